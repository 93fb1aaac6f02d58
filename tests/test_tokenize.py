"""The heart of the library: which tokens each mode trains, checked by decoding them, on several real templates."""

from __future__ import annotations

import pytest
from conftest import TEMPLATE_SPECS, make_tokenizer, toy_rows

from mrlm_hf.data import to_transitions, trajectories_from_rows
from mrlm_hf.tokenize import (
    ACTION,
    CONTEXT,
    OBSERVATION,
    build_example,
    tokenize_trajectories,
)

SYSTEM = "Answer with a number."
OBSERVATIONS = ["What is 12 + 30?", "Incorrect, try again.", "assistant", "Correct! Well done."]
# Edge cases: surrounding whitespace (trimmed by some templates), a role name as content, an empty action.
ACTIONS = ["  The answer is 41. ", "user", ""]


def segments(tokenizer, example: dict) -> list[tuple[int, str]]:
    """Maximal runs of trained tokens, as (type, decoded text)."""
    out, run, run_type = [], [], None
    for token_id, token_type in [*zip(example["input_ids"], example["token_types"]), (None, CONTEXT)]:
        if token_type != run_type and run:
            if run_type != CONTEXT:
                out.append((run_type, tokenizer.decode(run, skip_special_tokens=False)))
            run = []
        run_type = token_type
        if token_id is not None:
            run.append(token_id)
    return out


def end_of_turn(tokenizer, name: str) -> str:
    return {
        "chatml": "<|im_end|>",
        "llama3": "<|eot_id|>",
        "qwen2_5": "<|im_end|>",
        "gemma": "<end_of_turn>",
        "phi3": "<|end|>",
    }[name]


@pytest.mark.parametrize("template", list(TEMPLATE_SPECS))
@pytest.mark.parametrize("mode", ["behavioral_cloning", "world_model", "combined"])
def test_trained_tokens_decode_to_exactly_the_targets(template, mode):
    tokenizer = make_tokenizer(template)
    trims = TEMPLATE_SPECS[template][3]
    eot = end_of_turn(tokenizer, template)
    example = build_example(tokenizer, SYSTEM, OBSERVATIONS, ACTIONS, range(len(ACTIONS)), mode, None)

    def rendered(text: str) -> str:
        return (text.strip() if trims else text) + eot

    expected = []
    for k, action in enumerate(ACTIONS):
        if mode != "world_model":
            expected.append((ACTION, rendered(action)))
        if mode != "behavioral_cloning":
            expected.append((OBSERVATION, rendered(OBSERVATIONS[k + 1])))
    assert segments(tokenizer, example) == expected
    # Labels are the input ids exactly where a token is trained.
    for token_id, label, token_type in zip(example["input_ids"], example["labels"], example["token_types"]):
        assert label == (token_id if token_type != CONTEXT else -100)
    # The first observation (the task) and the system prompt are never trained.
    assert "What is 12 + 30?" not in "".join(text for _, text in expected)


@pytest.mark.parametrize("template", ["chatml", "llama3", "gemma"])
def test_rendered_sequence_is_the_template_output(template):
    """One tokenization of the template's own rendering: nothing added, nothing lost."""
    tokenizer = make_tokenizer(template)
    example = build_example(tokenizer, None, OBSERVATIONS, ACTIONS, range(3), "world_model", None)
    messages = [{"role": "user", "content": OBSERVATIONS[0]}]
    for action, observation in zip(ACTIONS, OBSERVATIONS[1:]):
        messages += [{"role": "assistant", "content": action}, {"role": "user", "content": observation}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    eot = end_of_turn(tokenizer, template)
    # The sequence ends with the last target's end-of-turn token: the template's trailing markup is not fed.
    assert tokenizer.decode(example["input_ids"], skip_special_tokens=False) == text[: text.rindex(eot) + len(eot)]


def test_gemma_system_prompt_is_folded_into_first_turn():
    tokenizer = make_tokenizer("gemma")
    example = build_example(tokenizer, SYSTEM, OBSERVATIONS[:2], ACTIONS[:1], [0], "behavioral_cloning", None)
    text = tokenizer.decode(example["input_ids"], skip_special_tokens=False)
    assert text.startswith(f"<bos><start_of_turn>user\n{SYSTEM}\n\n{OBSERVATIONS[0]}")
    assert segments(tokenizer, example) == [(ACTION, "The answer is 41.<end_of_turn>")]


def test_behavioral_cloning_drops_trailing_observation():
    tokenizer = make_tokenizer("chatml")
    example = build_example(tokenizer, SYSTEM, OBSERVATIONS[:2], ACTIONS[:1], [0], "behavioral_cloning", None)
    assert not tokenizer.decode(example["input_ids"]).endswith("Incorrect, try again.<|im_end|>\n")


def test_transition_layout_trains_only_its_step():
    tokenizer = make_tokenizer("chatml")
    example = build_example(tokenizer, SYSTEM, OBSERVATIONS[:3], ACTIONS[:2], [1], "combined", None)
    assert segments(tokenizer, example) == [(ACTION, "user<|im_end|>"), (OBSERVATION, "assistant<|im_end|>")]


def test_truncation_drops_oldest_context_and_keeps_targets():
    tokenizer = make_tokenizer("chatml")
    observations = [f"Task: step {i} of a long episode with many words." for i in range(8)]
    actions = [f"action {i}" for i in range(7)]
    full = build_example(tokenizer, SYSTEM, observations, actions, [6], "behavioral_cloning", None)
    limit = len(full["input_ids"]) - 20
    cut = build_example(tokenizer, SYSTEM, observations, actions, [6], "behavioral_cloning", limit)
    assert len(cut["input_ids"]) <= limit
    text = tokenizer.decode(cut["input_ids"])
    assert segments(tokenizer, cut) == [(ACTION, "action 6<|im_end|>")]
    assert observations[6] in text  # the observation the target answers is kept
    assert observations[0] in text  # the task is kept while older steps can go
    assert observations[1] not in text  # the oldest step went first
    assert SYSTEM in text


def test_examples_whose_targets_cannot_fit_are_dropped_and_counted(caplog):
    tokenizer = make_tokenizer("chatml")
    rows = toy_rows(4)
    rows[1]["actions"][-1] = "The answer is " + "9" * 600 + "."
    dataset = trajectories_from_rows(rows)
    tokenized, dropped = tokenize_trajectories(
        dataset, tokenizer, "behavioral_cloning", max_length=128, layout="trajectory"
    )
    assert dropped == 1 and len(tokenized) == 3
    assert "dropped" in caplog.text
    assert all(len(ids) <= 128 for ids in tokenized["input_ids"])


def test_auto_layout_falls_back_to_transitions_for_long_trajectories():
    tokenizer = make_tokenizer("chatml")
    dataset = trajectories_from_rows(toy_rows(2, steps=3))
    whole, _ = tokenize_trajectories(dataset, tokenizer, "combined", max_length=None, layout="auto")
    assert len(whole) == 2  # one sequence per trajectory
    longest = max(len(ids) for ids in whole["input_ids"])
    limit = int(longest * 0.7)  # more than the system prompt must go
    split, dropped = tokenize_trajectories(dataset, tokenizer, "combined", max_length=limit, layout="auto")
    assert dropped == 0 and len(split) == 6  # one example per step
    assert all(len(ids) <= limit for ids in split["input_ids"])


def test_transition_rows_tokenize_like_transition_layout():
    tokenizer = make_tokenizer("llama3")
    dataset = trajectories_from_rows(toy_rows(3, steps=2))
    from_transitions, _ = tokenize_trajectories(to_transitions(dataset), tokenizer, "combined", None, "auto")
    per_step, _ = tokenize_trajectories(dataset, tokenizer, "combined", None, "transition")
    assert from_transitions["input_ids"] == per_step["input_ids"]
    assert from_transitions["token_types"] == per_step["token_types"]


def test_unknown_mode_and_layout_are_refused(chatml_tokenizer, toy_dataset):
    with pytest.raises(ValueError, match="behavioral_cloning"):
        tokenize_trajectories(toy_dataset, chatml_tokenizer, mode="imitation")
    with pytest.raises(ValueError, match="trajectory"):
        tokenize_trajectories(toy_dataset, chatml_tokenizer, layout="episodes")
