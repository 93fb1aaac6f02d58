"""Training targets are the tokens the model must generate at inference, checked against the chat template itself.

The reference here uses ``apply_chat_template`` directly: for step ``k`` the prompt is
``tokenizer(apply_chat_template(history, add_generation_prompt=True, tokenize=False), add_special_tokens=False)``
and the target is the tokenization, on its own, of what the template renders after that prompt for the action,
then the end-of-turn token. The tokenizer is a byte-level BPE trained on indented code, so it merges a header's
newline with the spaces of the content after it (the trap of tokenizing a whole rendering at once)."""

from __future__ import annotations

import pytest
from conftest import TOY_CORPUS, TRL_TEMPLATES, make_tokenizer, toy_rows

from mrlm_hf.chat import end_of_turn_token_ids, render_observation_prompt
from mrlm_hf.data import to_transitions, trajectories_from_rows
from mrlm_hf.tokenize import (
    ACTION,
    CONTEXT,
    OBSERVATION,
    NotOneSequence,
    TemplateRewritesContent,
    build_example,
    tokenize_trajectories,
)

CODE_CORPUS = (
    TOY_CORPUS + ["def f(x):\n    if x:\n        return x\n    return 0\n", "\n    indented line\n  two\n"] * 20
)

# family -> (conftest tokenizer, template file or None for the tokenizer's own, end-of-turn text)
FAMILIES = {
    "chatml": ("chatml", None, "<|im_end|>"),
    "llama3": ("llama3", None, "<|eot_id|>"),
    "qwen2_5": ("qwen2_5", None, "<|im_end|>"),
    "gemma": ("gemma", None, "<end_of_turn>"),
    "phi3": ("phi3", None, "<|end|>"),
    "qwen3": ("qwen2_5", "qwen3", "<|im_end|>"),
    "qwen3_training": ("qwen2_5", "qwen3_training", "<|im_end|>"),
    "llama3_training": ("llama3", "llama3_training", "<|eot_id|>"),
}

SYSTEM = "Reply with code."
# Edges: leading spaces and newlines (indented code), trailing whitespace, empty strings, a role name, <think>.
OBSERVATIONS = ["", "    indented observation", "\nnewline first", "user", "  done  "]
ACTIONS = ["    return x\n", "", "<think>\nplan\n</think>\n\nanswer", "assistant  "]


def dataset_of(system, observations, actions):
    row = {**toy_rows(1)[0], "system_prompt": system, "observations": observations, "actions": actions}
    return trajectories_from_rows([{**row, "rewards": [0.0] * len(actions)}])


def family_tokenizer(family: str):
    base, template, _ = FAMILIES[family]
    tokenizer = make_tokenizer(base, corpus=CODE_CORPUS)
    if template:
        tokenizer.chat_template = (TRL_TEMPLATES / f"{template}.jinja").read_text()
    return tokenizer


def render(tokenizer, messages, **kwargs) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    except Exception:  # Gemma refuses a system turn: it goes first in the first user turn
        assert messages[0]["role"] == "system"
        first = {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
        return tokenizer.apply_chat_template([first, *messages[2:]], tokenize=False, **kwargs)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def reference(tokenizer, history, message, eot: str) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids) of ``message`` after ``history``, from the template alone."""
    if message["role"] == "assistant":
        prompt = render(tokenizer, history, add_generation_prompt=True)
    else:
        prompt = render(tokenizer, [*history, {"role": "user", "content": "\x01"}]).split("\x01")[0]
    full = render(tokenizer, [*history, message])
    assert full.startswith(prompt)
    body = full[len(prompt) : full.rindex(eot)]
    return ids(tokenizer, prompt), ids(tokenizer, body) + ids(tokenizer, eot)


def runs(example) -> list[tuple[int, int, int]]:
    """(type, start, end) of each maximal run of trained tokens."""
    out, start = [], 0
    types = example["token_types"]
    for i in range(1, len(types) + 1):
        if i == len(types) or types[i] != types[start]:
            if types[start] != CONTEXT:
                out.append((types[start], start, i))
            start = i
    return out


def expected_targets(system, observations, actions, mode):
    """(type, history, message) for every target of a trajectory, in order."""
    messages = [{"role": "system", "content": system}] if system else []
    out = []
    for k, action in enumerate(actions):
        messages.append({"role": "user", "content": observations[k]})
        if mode != "world_model":
            out.append((ACTION, list(messages), {"role": "assistant", "content": action}))
        messages.append({"role": "assistant", "content": action})
        if mode != "behavioral_cloning":
            out.append((OBSERVATION, list(messages), {"role": "user", "content": observations[k + 1]}))
    return out


def check_examples(tokenizer, examples, targets, eot):
    trained = [(example, run) for example in examples for run in runs(example)]
    assert len(trained) == len(targets)  # every target is trained, once
    for (example, (token_type, start, end)), (expected_type, history, message) in zip(trained, targets):
        prompt_ids, target_ids = reference(tokenizer, history, message, eot)
        assert token_type == expected_type
        assert example["input_ids"][:start] == prompt_ids  # the sequence before the target is the inference prompt
        assert example["input_ids"][start:end] == target_ids  # the target is what the model must generate
        assert example["labels"][start:end] == target_ids


def test_tokenizer_merges_header_newline_with_indentation():
    """The trap exists in this tokenizer: the header's newline and the content's spaces form one token."""
    tokenizer = family_tokenizer("chatml")
    assert ids(tokenizer, "assistant\n    return x") != ids(tokenizer, "assistant\n") + ids(tokenizer, "    return x")


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("system", [SYSTEM, None])
def test_targets_are_what_inference_generates(family, system):
    tokenizer = family_tokenizer(family)
    eot = FAMILIES[family][2]
    dataset = dataset_of(system, OBSERVATIONS, ACTIONS)
    for mode in ("behavioral_cloning", "world_model", "combined"):
        targets = expected_targets(system, OBSERVATIONS, ACTIONS, mode)
        tokenized, dropped = tokenize_trajectories(dataset, tokenizer, mode, max_length=None, layout="auto")
        assert dropped == 0
        check_examples(tokenizer, list(tokenized), targets, eot)
    # The per-step layout, and transition rows (which give the same examples).
    for data, layout in ((dataset, "transition"), (to_transitions(dataset), "auto")):
        tokenized, _ = tokenize_trajectories(data, tokenizer, "combined", max_length=None, layout=layout)
        check_examples(tokenizer, list(tokenized), expected_targets(system, OBSERVATIONS, ACTIONS, "combined"), eot)


@pytest.mark.parametrize("family", ["chatml", "llama3", "gemma", "qwen3_training"])
def test_one_sequence_trains_every_step_when_exact(family):
    """Contents without leading whitespace: one sequence per trajectory, every step's prefix its own prompt."""
    tokenizer = family_tokenizer(family)
    observations, actions = ["What is 2 + 2?", "Wrong.", "", "Right."], ["5", "", "4"]
    example = build_example(tokenizer, SYSTEM, observations, actions, range(3), "combined", None)
    check_examples(
        tokenizer, [example], expected_targets(SYSTEM, observations, actions, "combined"), FAMILIES[family][2]
    )


def test_trajectory_layout_refuses_a_sequence_that_differs_from_inference():
    tokenizer = family_tokenizer("chatml")
    dataset = dataset_of(SYSTEM, ["a", "b", "c"], ["    return x", "y"])
    with pytest.raises(NotOneSequence, match="Row 0.*layout='auto'"):
        tokenize_trajectories(dataset, tokenizer, "behavioral_cloning", max_length=None, layout="trajectory")
    tokenized, _ = tokenize_trajectories(dataset, tokenizer, "behavioral_cloning", max_length=None, layout="auto")
    assert len(tokenized) == 2  # one exact example per step


def test_qwen3_trains_every_action_as_generated():
    """Qwen3 drops <think> from past turns and adds an empty one to the last: each action is trained per step, with
    exactly the text the model produces after the generation prompt."""
    tokenizer = family_tokenizer("qwen3")
    actions = ["<think>\nadd them\n</think>\n\n41", "42"]
    dataset = dataset_of(None, ["What is 20 + 21?", "No.", "Yes."], actions)
    with pytest.raises(NotOneSequence):
        tokenize_trajectories(dataset, tokenizer, "behavioral_cloning", max_length=None, layout="trajectory")
    tokenized, _ = tokenize_trajectories(dataset, tokenizer, "behavioral_cloning", max_length=None, layout="auto")
    decoded = [
        tokenizer.decode(example["input_ids"][start:end]) for example in tokenized for _, start, end in runs(example)
    ]
    assert decoded == ["<think>\nadd them\n</think>\n\n41<|im_end|>", "<think>\n\n</think>\n\n42<|im_end|>"]


def test_an_example_that_fits_with_its_system_prompt_is_kept():
    """Qwen2.5 inserts a long default system prompt when none is given: dropping ours makes an example longer, so
    the past steps go and the system prompt stays."""
    tokenizer = family_tokenizer("qwen2_5")
    observations, actions = [f"Step {i}: observe." for i in range(6)], [f"move {i}" for i in range(5)]
    minimal = build_example(tokenizer, "Be brief.", observations[4:], actions[4:], [0], "behavioral_cloning", None)
    limit = len(minimal["input_ids"])
    without_system = build_example(tokenizer, None, observations[4:], actions[4:], [0], "behavioral_cloning", None)
    assert len(without_system["input_ids"]) > limit
    cut = build_example(tokenizer, "Be brief.", observations, actions, [4], "behavioral_cloning", limit)
    assert cut == minimal


@pytest.mark.parametrize("family", ["chatml", "gemma", "qwen2_5"])
def test_truncation_keeps_the_most_context_that_fits(family):
    tokenizer = family_tokenizer(family)
    # Past steps of digits (one token per character) and a wordy system prompt (several characters per token): a
    # size estimate from characters would drop too much.
    observations = [" ".join(str(i) * 12) for i in range(8)]
    actions = [f"{i}{i}" for i in range(7)]
    system = "What is the answer? The answer is correct. Try again. " * 4

    def length(drop: int, system: str | None = system) -> int:
        """Length with past steps 1..drop removed (the task o_0 and the trained step 6 kept)."""
        keep = [0, *range(drop + 1, 7)]
        example = build_example(tokenizer, system, [observations[i] for i in keep] + [observations[7]],
                                [actions[i] for i in keep], [len(keep) - 1], "behavioral_cloning", None)  # fmt: skip
        return len(example["input_ids"])

    for drop in (1, 3, 5):
        limit = length(drop) + 3  # a little room, less than a step
        cut = build_example(tokenizer, system, observations, actions, [6], "behavioral_cloning", limit)
        assert len(cut["input_ids"]) == length(drop)  # exactly `drop` steps went, not more
        text = tokenizer.decode(cut["input_ids"])
        assert system.strip() in text and observations[0] in text and observations[drop + 1] in text
        assert observations[drop] not in text
        assert length(drop - 1) > limit  # one step fewer dropped would not fit


def test_world_model_prompt_and_end_of_turn_come_from_the_template():
    tokenizer = family_tokenizer("phi3")  # appends EOS after the last message when no generation prompt is asked
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert render_observation_prompt(tokenizer, messages) == "<|user|>\nx<|end|>\n<|assistant|>\ny<|end|>\n<|user|>\n"
    assert tokenizer.convert_ids_to_tokens(end_of_turn_token_ids(tokenizer)) == ["<|endoftext|>", "<|end|>"]


def test_a_template_whose_turns_do_not_continue_its_generation_prompt_is_refused():
    """DeepSeek-R1's generation prompt pre-fills '<think>\\n', which its rendered turns lack: refuse, naming the row."""
    tokenizer = family_tokenizer("chatml")
    tokenizer.chat_template = (TRL_TEMPLATES / "deepseek_r1_distill.jinja").read_text()
    with pytest.raises(TemplateRewritesContent, match="Row 0: .*message 1 \\(assistant\\).*generation prompt"):
        tokenize_trajectories(dataset_of(None, ["q", "r"], ["a"]), tokenizer, "behavioral_cloning", max_length=None)
