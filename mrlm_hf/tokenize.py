"""Trajectories -> training tokens, with an exact type for every token.

A trajectory is rendered once with the tokenizer's chat template and tokenized once; every token then gets a type:

* ``CONTEXT`` (0): not trained (system prompt, chat headers, the first observation, anything the mode ignores);
* ``ACTION`` (1): an action's text **and the end-of-turn token that closes it**, so the model learns to stop;
* ``OBSERVATION`` (2): an observation that follows an action, and its end-of-turn token (the world-model target).

Types come from character offsets in the one rendered text: the template is rendered a second time with a unique
sentinel in place of every message's content, the text between sentinels is the template's own markup, and each
message's content is located between those markup pieces. Nothing is computed by subtracting token counts of
separately tokenized prefixes. Templates that rewrite content (Llama-3 trims it) are handled because the rendered
form is what is located; templates that rewrite *earlier* turns (Qwen3 drops ``<think>`` blocks from past assistant
turns) cannot train those turns in one sequence, which is detected and reported (the per-transition layout, where
only the last turn is trained, still works).

Layouts: ``trajectory`` (one sequence trains every step, O(T) tokens), ``transition`` (one example per step, for
histories longer than ``max_length``) and ``auto`` (trajectory when it fits, else per-step).
Too long: the oldest whole turns of context are dropped first (keeping the task statement as long as possible); an
example whose targets alone do not fit is dropped and counted.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from mrlm_hf.chat import ACTION_ROLE, OBSERVATION_ROLE, Message, fold_system_prompt

logger = logging.getLogger(__name__)

CONTEXT, ACTION, OBSERVATION = 0, 1, 2
TOKEN_TYPE_NAMES = {CONTEXT: "context", ACTION: "action", OBSERVATION: "observation"}
MODES = ("behavioral_cloning", "world_model", "combined")
LAYOUTS = ("auto", "trajectory", "transition")

_SENTINEL = "\u27e6mrlm-sentinel-{}\u27e7"


class TemplateRewritesContent(ValueError):
    """The chat template changes a message's content in a way that its trained tokens cannot be located."""


def mode_targets(mode: str) -> tuple[bool, bool]:
    """``(train_actions, train_observations)`` for a training mode."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    return mode in ("behavioral_cloning", "combined"), mode in ("world_model", "combined")


def apply_template(tokenizer: Any, messages: list[Message]) -> tuple[str, list[Message]]:
    """Render ``messages``; if the template refuses the system role (Gemma), fold it into the first user turn.

    Returns the text and the messages actually rendered."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "The tokenizer has no chat template. Set `tokenizer.chat_template` (for example "
            "`mrlm_hf.tiny.CHATML_TEMPLATE`) or use a chat/instruct model's tokenizer."
        )
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False), messages
    except Exception:
        if not messages or messages[0]["role"] != "system":
            raise
        folded = fold_system_prompt(messages)
        return tokenizer.apply_chat_template(folded, tokenize=False), folded


def locate_contents(
    tokenizer: Any, messages: list[Message], exact: Sequence[bool]
) -> tuple[str, list[tuple[int, int] | None]]:
    """Render ``messages`` once and return the text and each message's ``(start, end)`` content span in it.

    ``exact[i]`` says the span of message ``i`` is needed (a training target): if the template rewrote that content
    beyond trimming whitespace, ``TemplateRewritesContent`` is raised. Other messages may be rewritten freely."""
    text, rendered = apply_template(tokenizer, messages)
    sentinels = [_SENTINEL.format(i) for i in range(len(messages))]
    marked = [{**m, "content": s} for m, s in zip(messages, sentinels)]
    if rendered is not messages:  # the system prompt was folded into the first user turn
        marked = fold_system_prompt(marked)
    marked_text = tokenizer.apply_chat_template(marked, tokenize=False)

    pieces, rest = [], marked_text
    for i, sentinel in enumerate(sentinels):
        head, found, rest = rest.partition(sentinel)
        if not found:
            raise TemplateRewritesContent(f"The chat template dropped or altered message {i} ({messages[i]['role']}).")
        pieces.append(head)
    pieces.append(rest)

    if not text.startswith(pieces[0]):
        raise TemplateRewritesContent("The chat template renders differently with different contents.")
    pos, spans = len(pieces[0]), []
    for i, message in enumerate(messages):
        after, content = pieces[i + 1], message["content"]
        span = None
        for candidate in dict.fromkeys((content, content.strip())):
            if text.startswith(candidate, pos) and text.startswith(after, pos + len(candidate)):
                span = (pos, pos + len(candidate))
                break
        if span is None:
            if exact[i]:
                raise TemplateRewritesContent(
                    f"The chat template rewrites the content of message {i} ({message['role']}), so its tokens "
                    "cannot be trained exactly as rendered. This happens with templates that rewrite earlier turns "
                    "(e.g. Qwen3 drops <think> blocks from past assistant turns): use layout='transition', which "
                    "trains only the last turn of each example."
                )
            end = len(text) - len(after) if i == len(messages) - 1 else text.find(after, pos)
            if end < pos:
                raise TemplateRewritesContent(f"Could not find the end of message {i} in the rendered chat.")
            span = (pos, end)
        spans.append(span)
        pos = span[1] + len(after)
    return text, [s if e else None for s, e in zip(spans, exact)]


@dataclass
class _Turn:
    role: str
    content: str
    token_type: int


def _special_ids(tokenizer: Any) -> frozenset[int]:
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special)
    return frozenset(ids)


def _tokenize_turns(tokenizer: Any, turns: list[_Turn], special_ids: frozenset[int]) -> tuple[list[int], list[int]]:
    messages = [{"role": t.role, "content": t.content} for t in turns]
    text, spans = locate_contents(tokenizer, messages, [t.token_type != CONTEXT for t in turns])
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]
    types = [CONTEXT] * len(ids)
    for turn, span in zip(turns, spans):
        if span is None:
            continue
        start, end = span
        first = bisect.bisect_right(ends, start)  # first token that ends after the content starts
        stop = bisect.bisect_left(starts, end)  # first token that starts at or after the content end
        for j in range(first, stop):
            types[j] = turn.token_type
        if stop < len(ids) and ids[stop] in special_ids:  # the end-of-turn token that closes this message
            types[stop] = turn.token_type
    return ids, types


def build_example(
    tokenizer: Any,
    system_prompt: str | None,
    observations: Sequence[str],
    actions: Sequence[str],
    target_steps: Sequence[int],
    mode: str,
    max_length: int | None,
    special_ids: frozenset[int] | None = None,
) -> dict[str, list[int]] | None:
    """Tokenize one example: the chat ``o_0, a_0, o_1, ...`` whose steps ``target_steps`` are trained.

    Step ``k`` trains ``a_k`` (behavioral cloning) and/or ``o_{k+1}`` (world model). Returns ``input_ids``,
    ``labels`` (-100 outside targets) and ``token_types``, or ``None`` when the targets cannot fit ``max_length``."""
    train_actions, train_observations = mode_targets(mode)
    special_ids = _special_ids(tokenizer) if special_ids is None else special_ids
    steps = set(target_steps)
    pairs: list[list[_Turn]] = []  # pairs[j] = [o_j, a_j] (the last may lack its action)
    for j, observation in enumerate(observations):
        observation_type = OBSERVATION if train_observations and (j - 1) in steps else CONTEXT
        pair = [_Turn(OBSERVATION_ROLE, observation, observation_type)]
        if j < len(actions):
            action_type = ACTION if train_actions and j in steps else CONTEXT
            pair.append(_Turn(ACTION_ROLE, actions[j], action_type))
        pairs.append(pair)
    flat = [t for pair in pairs for t in pair]
    last_target = max((i for i, t in enumerate(flat) if t.token_type != CONTEXT), default=None)
    if last_target is None:
        return None
    anchor = min(steps)  # the observation the first trained step responds to: never dropped
    # Context that may be dropped, oldest first: whole past steps (keeping the task o_0), then step 0, then the
    # system prompt.
    droppable: list[Any] = list(range(1, anchor)) + ([0] if anchor > 0 else []) + (["system"] if system_prompt else [])
    dropped: set[Any] = set()
    while True:
        turns = [_Turn("system", system_prompt, CONTEXT)] if system_prompt and "system" not in dropped else []
        for j, pair in enumerate(pairs):
            if j not in dropped:
                turns.extend(pair)
        keep = len(turns) - (len(flat) - 1 - last_target)  # drop context after the last target
        turns = turns[:keep]
        ids, types = _tokenize_turns(tokenizer, turns, special_ids)
        if max_length is None or len(ids) <= max_length:
            break
        remaining = [d for d in droppable if d not in dropped]
        if not remaining:
            return None
        # Drop enough of the oldest context to cover the excess in one go (estimated from characters per token).
        chars_per_token = max(1.0, sum(len(t.content or "") for t in turns) / max(1, len(ids)))
        excess_chars = (len(ids) - max_length) * chars_per_token
        for unit in remaining:
            dropped.add(unit)
            size = len(system_prompt or "") if unit == "system" else sum(len(t.content) for t in pairs[unit])
            excess_chars -= size
            if excess_chars <= 0:
                break
    labels = [i if t != CONTEXT else -100 for i, t in zip(ids, types)]
    return {"input_ids": ids, "labels": labels, "token_types": types}


def _row_examples(row: dict[str, Any], tokenizer: Any, mode: str, max_length: int | None, layout: str, special_ids):
    """All examples of one dataset row (a trajectory or a transition); ``None`` marks a dropped example."""
    system = row.get("system_prompt")
    if "next_observation" in row:  # a transition row: history + action + next observation
        observations = [*row["observations"], row["next_observation"]]
        actions = [*row["actions"], row["action"]]
        return [
            build_example(tokenizer, system, observations, actions, [len(actions) - 1], mode, max_length, special_ids)
        ]
    observations, actions = row["observations"], row["actions"]
    if not actions:
        return []
    if layout in ("trajectory", "auto"):
        try:
            example = build_example(
                tokenizer, system, observations, actions, range(len(actions)), mode, max_length, special_ids
            )
        except TemplateRewritesContent:
            if layout == "trajectory":
                raise
            example = None
        if example is not None or layout == "trajectory":
            return [example]
    return [
        build_example(tokenizer, system, observations[: k + 2], actions[: k + 1], [k], mode, max_length, special_ids)
        for k in range(len(actions))
    ]


def tokenize_trajectories(
    dataset: Dataset,
    tokenizer: Any,
    mode: str = "combined",
    max_length: int | None = 1024,
    layout: str = "auto",
    num_proc: int | None = None,
) -> tuple[Dataset, int]:
    """Tokenize a trajectory or transition dataset into ``input_ids``/``labels``/``token_types`` examples.

    Returns the tokenized dataset and the number of examples dropped because their targets exceed ``max_length``
    (reported once as a warning)."""
    mode_targets(mode)
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    columns = set(dataset.column_names)
    if not {"observations", "actions"} <= columns:
        raise ValueError(
            "Expected a trajectory dataset (columns 'observations', 'actions'; see mrlm_hf.rollout) or a transition "
            f"dataset (plus 'action', 'next_observation'); got columns {sorted(columns)}."
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("Exact token masks need a fast tokenizer (offset mapping); load it with use_fast=True.")
    special_ids = _special_ids(tokenizer)

    def tokenize_batch(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "labels": [], "token_types": []}
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        for row in rows:
            for example in _row_examples(row, tokenizer, mode, max_length, layout, special_ids):
                example = example or {"input_ids": [], "labels": [], "token_types": []}  # dropped: filtered below
                for key in out:
                    out[key].append(example[key])
        return out

    tokenized = dataset.map(
        tokenize_batch,
        batched=True,
        batch_size=64,
        remove_columns=dataset.column_names,
        num_proc=num_proc,
        desc=f"Tokenizing ({mode}, {layout})",
    )
    kept = tokenized.filter(lambda ids: [len(x) > 0 for x in ids], input_columns="input_ids", batched=True)
    num_dropped = len(tokenized) - len(kept)
    if num_dropped:
        logger.warning(
            "%d of %d examples were dropped: their training targets alone exceed max_length=%s. Raise max_length or "
            "use layout='transition'.",
            num_dropped,
            len(tokenized),
            max_length,
        )
    return kept, num_dropped
