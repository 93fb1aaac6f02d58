"""One place that turns a trajectory into chat messages and renders them, for rollouts, training and evaluation.

A trajectory with observations ``o_0 .. o_T`` and actions ``a_0 .. a_{T-1}`` is the conversation
``[system], user: o_0, assistant: a_0, user: o_1, ..., assistant: a_{T-1}, user: o_T``. Observations are
``user`` turns because every chat template accepts that role.

Rendering goes through ``render_chat`` (the one fallback for templates that refuse a system turn), and the prompts
a model continues from are ``render_generation_prompt`` (before an action) and ``render_observation_prompt``
(before an observation, for world models). ``end_of_turn_token_ids`` says where a generated turn stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Message = dict[str, str]

OBSERVATION_ROLE = "user"
ACTION_ROLE = "assistant"

#: Stands for a message's content when probing a template's own markup (no template emits it by itself).
SENTINEL = "\u27e6mrlm-sentinel\u27e7"


def trajectory_messages(
    system_prompt: str | None, observations: Sequence[str], actions: Sequence[str]
) -> list[Message]:
    """Interleave observations and actions into chat messages (observations may be one longer than actions)."""
    if not len(actions) <= len(observations) <= len(actions) + 1:
        raise ValueError(
            f"A trajectory needs len(actions) <= len(observations) <= len(actions) + 1, got {len(observations)} "
            f"observations and {len(actions)} actions."
        )
    messages: list[Message] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for i, observation in enumerate(observations):
        messages.append({"role": OBSERVATION_ROLE, "content": observation})
        if i < len(actions):
            messages.append({"role": ACTION_ROLE, "content": actions[i]})
    return messages


def check_history(history: int | None, optional: bool = True) -> None:
    """Raise unless ``history`` (observations kept by ``recent_messages`` / ``truncate_history``) is an int >= 1, or
    None where ``optional`` (keep everything)."""
    if history is None and optional:
        return
    if not isinstance(history, int) or isinstance(history, bool) or history < 1:
        raise ValueError(f"history must be an int >= 1 (the number of most recent observations kept), got {history!r}.")


def recent_messages(messages: list[Message], history: int | None) -> list[Message]:
    """``messages`` with only the last ``history`` observations kept (and what follows them), the system message
    kept: the chat-level form of ``mrlm_hf.data.truncate_history`` (``None`` keeps everything)."""
    if history is None:
        return messages
    check_history(history)
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    starts = [i for i, m in enumerate(messages) if m["role"] == OBSERVATION_ROLE and i >= len(head)]
    if len(starts) <= history:
        return messages
    return [*head, *messages[starts[-history] :]]


def fold_system_prompt(messages: list[Message]) -> list[Message]:
    """Merge a leading system message into the first user turn, for templates that refuse the system role
    (Gemma raises on it)."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    if rest and rest[0]["role"] == OBSERVATION_ROLE:
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        return rest
    return [{"role": OBSERVATION_ROLE, "content": system}, *rest]


def render_chat_messages(
    tokenizer: Any, messages: list[Message], add_generation_prompt: bool = False
) -> tuple[str, list[Message]]:
    """Render ``messages`` with the tokenizer's chat template; return the text and the messages actually rendered.

    A template that refuses the system role (Gemma) gets it folded into the first user turn
    (``fold_system_prompt``); the second element is then the folded list."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "The tokenizer has no chat template. Set `tokenizer.chat_template` (for example "
            "`mrlm_hf.tiny.CHATML_TEMPLATE`) or use a chat/instruct model's tokenizer."
        )
    kwargs = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
    try:
        return tokenizer.apply_chat_template(messages, **kwargs), messages
    except Exception:
        if not messages or messages[0]["role"] != "system":
            raise
        folded = fold_system_prompt(messages)
        return tokenizer.apply_chat_template(folded, **kwargs), folded


def render_chat(tokenizer: Any, messages: list[Message], add_generation_prompt: bool = False) -> str:
    """The chat template's text for ``messages`` (system folded into the first user turn where refused)."""
    return render_chat_messages(tokenizer, messages, add_generation_prompt)[0]


def render_generation_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """The prompt a policy continues from to produce the next action (the template's generation prompt)."""
    return render_chat(tokenizer, messages, add_generation_prompt=True)


def render_turn(tokenizer: Any, messages: list[Message], role: str) -> tuple[str, str]:
    """``(before, after)``: the text the template renders before and after the content of a ``role`` message
    appended to ``messages``. ``before`` ends with that turn's header; ``after`` is its closing markup."""
    text = render_chat(tokenizer, [*messages, {"role": role, "content": SENTINEL}])
    before, found, after = text.partition(SENTINEL)
    if not found:
        raise ValueError(f"The chat template does not render the content of a {role!r} message as given.")
    return before, after


def render_observation_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """The prompt a world model continues from to produce the next observation: ``messages`` rendered, then the
    header of a new observation (user) turn."""
    return render_turn(tokenizer, messages, OBSERVATION_ROLE)[0]


def special_token_ids(tokenizer: Any) -> frozenset[int]:
    """The ids that count as special tokens: the tokenizer's special tokens and added tokens marked special."""
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, token in tokenizer.added_tokens_decoder.items() if token.special)
    return frozenset(ids)


def end_of_turn_text(tokenizer: Any, after: str, special_ids: frozenset[int] | None = None) -> str:
    """The part of a turn's closing markup ``after`` that the model must generate to end the turn: everything up to
    and including its first special token (``""`` when it has none)."""
    special_ids = special_token_ids(tokenizer) if special_ids is None else special_ids
    encoding = tokenizer(after, add_special_tokens=False, return_offsets_mapping=True)
    for token_id, (_, end) in zip(encoding["input_ids"], encoding["offset_mapping"]):
        if token_id in special_ids:
            return after[:end]
    return ""


def end_of_turn_token_ids(tokenizer: Any) -> list[int]:
    """The token(s) that end an assistant turn in this tokenizer's chat template, plus EOS (generation stops there)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    try:
        _, after = render_turn(tokenizer, [{"role": OBSERVATION_ROLE, "content": "x"}], ACTION_ROLE)
    except Exception:  # a template we cannot analyse: fall back to EOS alone
        return ids
    special_ids = special_token_ids(tokenizer)
    text = end_of_turn_text(tokenizer, after, special_ids)
    ids += [i for i in tokenizer(text, add_special_tokens=False)["input_ids"] if i in special_ids]
    return list(dict.fromkeys(ids))
