"""Trajectories -> training tokens, with an exact type for every token.

Every token gets a type:

* ``CONTEXT`` (0): not trained (system prompt, chat headers, the first observation, anything the mode ignores);
* ``ACTION`` (1): an action **and the end-of-turn token that closes it**, so the model learns to stop;
* ``OBSERVATION`` (2): an observation that follows an action, and its end-of-turn token (the world-model target).

**The rule.** A target's tokens are exactly what the model must generate at inference: for action ``k``,
``tokenizer(render_generation_prompt(history_k), add_special_tokens=False)`` is the prompt, and the target is the
tokenization of the text the template renders after that prompt for the action, on its own, followed by the
end-of-turn markup (through its first special token); for an observation, the same after
``render_observation_prompt``. This is the *per-step* rendering (``step_target``): one template call per prompt and
per turn, the reference every example is built from or checked against.

**One sequence per trajectory.** An example with several targets is one token sequence
``prompt_0 | target_0 | context | target_1 | ...``, built segment by segment (context runs and targets tokenized
separately), valid only when, for every step ``k``, the tokens before target ``k`` are exactly the tokenization of
its own prompt. Two things can prevent it, and both are detected (``NotOneSequence``): a template that rewrites
earlier turns (Qwen3 drops ``<think>`` blocks and renders a last assistant turn differently), and byte-level BPE
merging a turn header into the content that follows it (content starting with spaces or newlines), where the prompt
tokenized as a whole differs from header and content tokenized apart. ``layout="auto"`` then uses per-step
examples, which are exact by construction.

Speed: templates that pass a probe (``template_profile``: prefix-preserving, generation prompt equal to the turn
header in the middle of a chat, contents rendered as given or trimmed) are rendered twice per example (once with the
contents, once with sentinels to find the contents) instead of per step; any example the fast path cannot place
exactly goes through the per-step rendering.

Layouts: ``trajectory`` (one sequence trains every step, O(T) tokens), ``transition`` (one example per step) and
``auto`` (trajectory when it fits and is exact, else per-step). Too long: the most context that fits is kept; the
oldest whole steps go first (the task ``o_0`` last), then the system prompt; an example whose targets alone do not
fit is dropped and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from mrlm_hf.chat import (
    ACTION_ROLE,
    OBSERVATION_ROLE,
    Message,
    end_of_turn_text,
    render_chat,
    render_chat_messages,
    render_generation_prompt,
    render_turn,
    special_token_ids,
    trajectory_messages,
)

logger = logging.getLogger(__name__)

CONTEXT, ACTION, OBSERVATION = 0, 1, 2
TOKEN_TYPE_NAMES = {CONTEXT: "context", ACTION: "action", OBSERVATION: "observation"}
MODES = ("behavioral_cloning", "world_model", "combined")
LAYOUTS = ("auto", "trajectory", "transition")

_MARK = "\u27e6mrlm-{}\u27e7"


class TemplateRewritesContent(ValueError):
    """The chat template's rendering of a trained turn cannot be placed after its inference prompt."""


class NotOneSequence(ValueError):
    """The targets of an example cannot share one token sequence that equals every step's inference prompt."""


def mode_targets(mode: str) -> tuple[bool, bool]:
    """``(train_actions, train_observations)`` for a training mode."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    return mode in ("behavioral_cloning", "combined"), mode in ("world_model", "combined")


@dataclass(frozen=True)
class Target:
    """One trained turn: the inference ``prompt`` text, the ``body`` the model generates after it, and the
    end-of-turn text ``eot`` that closes it (trained too)."""

    prompt: str
    body: str
    eot: str
    token_type: int


def step_target(
    tokenizer: Any, messages: list[Message], index: int, token_type: int, special_ids: frozenset[int] | None = None
) -> Target:
    """The reference for message ``index``: its prompt (generation prompt for an action, observation prompt for an
    observation), rendered alone, and what the template renders after that prompt when the message is appended."""
    role, history = messages[index]["role"], messages[:index]
    try:
        before, after = render_turn(tokenizer, history, role)
    except ValueError as error:
        raise TemplateRewritesContent(str(error)) from error
    prompt = render_generation_prompt(tokenizer, history) if role == ACTION_ROLE else before
    full = render_chat(tokenizer, messages[: index + 1])
    end = len(full) - len(after)
    if not (full.startswith(prompt) and full.endswith(after) and end >= len(prompt)):
        raise TemplateRewritesContent(
            f"The chat template does not render message {index} ({role}) right after its "
            f"{'generation' if role == ACTION_ROLE else 'observation'} prompt (for instance its generation prompt "
            "pre-fills text such as '<think>' that the rendered turn lacks), so the tokens the model must generate "
            "cannot be read from the template. Train with a template whose rendered turns continue its generation "
            "prompt."
        )
    return Target(prompt, full[len(prompt) : end], end_of_turn_text(tokenizer, after, special_ids), token_type)


@dataclass(frozen=True)
class TemplateProfile:
    """What the probe found about a tokenizer's chat template (see ``template_profile``)."""

    simple: bool  # one rendering per example gives every step's exact prompt and target
    leads: dict[str, str]  # role -> template text between the prompt and the content, part of the target
    eots: dict[str, str]  # role -> end-of-turn text after the content
    special_ids: frozenset[int]
    added_ids: frozenset[int]  # every added token: the tokenizer never merges text across them


_PROBES = (
    (["What is 2 + 2?", "Wrong, try again.", "Right."], ["5", "4"]),
    (["  spaced ", "\n  indented\n", ""], [" x ", ""]),
    (["q", "r", "s"], ["<think>\nhmm\n</think>\n\nfour", "def f():\n    return 1\n"]),
)


def template_profile(tokenizer: Any) -> TemplateProfile:
    """Probe the chat template once: the per-role lead and end-of-turn texts, and whether one rendering per example
    agrees with per-step rendering on probe chats (with and without a system prompt, plain, whitespace-edged, empty
    and ``<think>`` contents). Templates that disagree anywhere are always rendered per step."""
    special_ids = special_token_ids(tokenizer)
    added_ids = frozenset(tokenizer.added_tokens_decoder) | special_ids
    messages = trajectory_messages(None, *_PROBES[0])
    leads, eots = {}, {}
    for index in (1, 2):  # an action "5", an observation "Wrong, try again."
        try:
            target = step_target(tokenizer, messages, index, CONTEXT, special_ids)
        except TemplateRewritesContent:  # reported for the first row that needs it
            return TemplateProfile(False, {}, {}, special_ids, added_ids)
        content = messages[index]["content"]
        if not target.body.endswith(content):
            return TemplateProfile(False, {}, {}, special_ids, added_ids)
        leads[messages[index]["role"]] = target.body[: len(target.body) - len(content)]
        eots[messages[index]["role"]] = target.eot
    profile = TemplateProfile(True, leads, eots, special_ids, added_ids)
    for system in ("Be brief.", None):
        for observations, actions in _PROBES:
            messages = trajectory_messages(system, observations, actions)
            targets = {i: ACTION for i, m in enumerate(messages) if m["role"] == ACTION_ROLE}
            targets.update({i: OBSERVATION for i in range(3 if system else 2, len(messages), 2)})
            fast = _one_rendering_targets(tokenizer, messages, targets, profile)
            if fast is None:
                continue
            try:
                reference = [step_target(tokenizer, messages, i, t, special_ids) for i, t in sorted(targets.items())]
            except TemplateRewritesContent:
                reference = None
            if fast != reference:
                return TemplateProfile(False, leads, eots, special_ids, added_ids)
    return profile


def locate_contents(
    tokenizer: Any, messages: list[Message], exact: Sequence[bool]
) -> tuple[str, list[tuple[int, int] | None]]:
    """Render ``messages`` once; return the text and the ``(start, end)`` span of each content with ``exact[i]`` set.

    Contents are found between the template's own markup (a second rendering with sentinels for contents) as given
    or trimmed; ``TemplateRewritesContent`` is raised when a requested one was rewritten otherwise. When the system
    prompt is folded into the first user turn (Gemma), neither of those two can be requested."""
    text, rendered = render_chat_messages(tokenizer, messages)
    shift = len(messages) - len(rendered)  # 1 when the system prompt was folded into the first user turn
    if shift and any(exact[:2]):
        raise TemplateRewritesContent("The system prompt was folded into the first user turn: it has no own span.")
    wanted = [any(exact[: 1 + shift])] + list(exact[1 + shift :])
    marks = [_MARK.format(i) for i in range(len(rendered))]
    marked = render_chat(tokenizer, [{**m, "content": s} for m, s in zip(rendered, marks)])
    pieces, rest = [], marked
    for i, mark in enumerate(marks):
        head, found, rest = rest.partition(mark)
        if not found:
            raise TemplateRewritesContent(f"The chat template dropped or altered message {i + shift}.")
        pieces.append(head)
    pieces.append(rest)
    if not text.startswith(pieces[0]):
        raise TemplateRewritesContent("The chat template renders its markup differently with different contents.")
    pos, spans = len(pieces[0]), []
    for j, message in enumerate(rendered):
        after, content = pieces[j + 1], message["content"]
        span = None
        for candidate in dict.fromkeys((content, content.strip())):
            if text.startswith(candidate, pos) and text.startswith(after, pos + len(candidate)):
                span = (pos, pos + len(candidate))
                break
        if span is None:
            end = len(text) - len(after) if j == len(rendered) - 1 else text.find(after, pos)
            if wanted[j] or end < pos:
                raise TemplateRewritesContent(
                    f"The chat template rewrites the content of message {j + shift} ({message['role']}) beyond "
                    "trimming it, so it cannot be located in one rendering."
                )
            span = (pos, end)
        spans.append(span)
        pos = span[1] + len(after)
    if pos != len(text):
        raise TemplateRewritesContent("The chat template's rendering could not be split into its messages.")
    spans = [None] * shift + spans
    return text, [span if want else None for span, want in zip(spans, exact)]


def _one_rendering_targets(
    tokenizer: Any, messages: list[Message], targets: dict[int, int], profile: TemplateProfile
) -> list[Target] | None:
    """Targets read from one rendering of the whole chat (``locate_contents``); ``None`` when a target's content
    cannot be placed exactly."""
    try:
        text, spans = locate_contents(tokenizer, messages, [i in targets for i in range(len(messages))])
    except TemplateRewritesContent:
        return None
    out = []
    for i, token_type in sorted(targets.items()):
        (start, end), role = spans[i], messages[i]["role"]
        lead, eot = profile.leads[role], profile.eots[role]
        if text[start - len(lead) : start] != lead or not text.startswith(eot, end):
            return None
        out.append(Target(text[: start - len(lead)], text[start - len(lead) : end], eot, token_type))
    return out


def _targets(
    tokenizer: Any, messages: list[Message], targets: dict[int, int], profile: TemplateProfile
) -> list[Target]:
    if profile.simple:
        fast = _one_rendering_targets(tokenizer, messages, targets, profile)
        if fast is not None:
            return fast
    return [step_target(tokenizer, messages, i, t, profile.special_ids) for i, t in sorted(targets.items())]


def _assemble(tokenizer: Any, targets: list[Target], added_ids: frozenset[int]) -> tuple[list[int], list[int]]:
    """One sequence ``prompt_0 | body_0 eot_0 | context | body_1 eot_1 | ...``, segment by segment.

    Raises ``NotOneSequence`` unless every target's prompt continues the previous one's text and no join between
    segments is merged differently when the prompt is tokenized as a whole (checked on the text between the added
    tokens around each join, which is all the tokenizer can merge)."""
    texts, types, consumed = [], [], ""
    for target in targets:
        if not target.prompt.startswith(consumed):
            raise NotOneSequence(
                "The chat template renders earlier turns differently in later prompts (e.g. Qwen3 drops <think> "
                "blocks from past assistant turns), so one sequence cannot hold every step's prompt."
            )
        texts += [target.prompt[len(consumed) :], target.body, target.eot]
        types += [CONTEXT, target.token_type, target.token_type]
        consumed = target.prompt + target.body + target.eot
    segments = _encode_many(tokenizer, texts)
    if len(targets) > 1:
        _check_joins(tokenizer, texts, segments, added_ids)
    ids = [i for segment in segments for i in segment]
    token_types = [t for segment, t in zip(segments, types) for _ in segment]
    return ids, token_types


def _encode_many(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """``tokenizer(text, add_special_tokens=False).input_ids`` of each text, in one call to the Rust tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=False)]


def _check_joins(tokenizer: Any, texts: list[str], segments: list[list[int]], added_ids: frozenset[int]) -> None:
    """Raise ``NotOneSequence`` where two adjacent segments tokenize differently together than apart.

    The tokenizer never merges across an added token, so only the text between the last added token of the left
    segment and the first one of the right segment is compared (a short string: usually a header and a content)."""
    present = [k for k, ids in enumerate(segments) if ids]
    pairs, expected = [], []
    for left, right in zip(present, present[1:]):
        ids_l, ids_r, text_l, text_r = segments[left], segments[right], texts[left], texts[right]
        last = next((p for p in range(len(ids_l) - 1, -1, -1) if ids_l[p] in added_ids), -1)
        first = next((p for p in range(len(ids_r)) if ids_r[p] in added_ids), len(ids_r))
        tail, head = text_l, text_r
        if last >= 0:  # (a token not found as text leaves the whole segment: the comparison then fails, safely)
            token = tokenizer.convert_ids_to_tokens(ids_l[last])
            position = text_l.rfind(token)
            tail = text_l[position + len(token) :] if position >= 0 else text_l
        if first < len(ids_r):
            position = text_r.find(tokenizer.convert_ids_to_tokens(ids_r[first]))
            head = text_r[:position] if position >= 0 else text_r
        if tail and head:
            pairs.append(tail + head)
            expected.append(ids_l[last + 1 :] + ids_r[:first])
    if pairs and _encode_many(tokenizer, pairs) != expected:
        raise NotOneSequence(
            "The tokenizer merges a turn header with the content after it (e.g. a content starting with spaces or "
            "a newline), so the tokens of one sequence would differ from a step's prompt tokenized alone."
        )


def build_example(
    tokenizer: Any,
    system_prompt: str | None,
    observations: Sequence[str],
    actions: Sequence[str],
    target_steps: Sequence[int],
    mode: str,
    max_length: int | None,
    *,
    profile: TemplateProfile | None = None,
) -> dict[str, list[int]] | None:
    """Tokenize one example: the chat ``o_0, a_0, o_1, ...`` whose steps ``target_steps`` are trained.

    Step ``k`` trains ``a_k`` (behavioral cloning) and/or ``o_{k+1}`` (world model). Returns ``input_ids``,
    ``labels`` (-100 outside targets) and ``token_types``, ending with the last target's end-of-turn; ``None`` when
    there is nothing to train or the targets cannot fit ``max_length``. Raises ``NotOneSequence`` when several
    targets cannot share one exact sequence (train them one step per example)."""
    train_actions, train_observations = mode_targets(mode)
    profile = template_profile(tokenizer) if profile is None else profile
    steps = sorted(set(target_steps))
    if not steps:
        return None
    anchor = steps[0]  # the observation the first trained step responds to: never dropped
    # Context that may go, oldest first: whole past steps (the task o_0 last), then the system prompt.
    units = [*range(1, anchor), *([0] if anchor > 0 else [])]

    def build(num_dropped: int, keep_system: bool) -> tuple[list[int], list[int]] | None:
        dropped = set(units[:num_dropped])
        messages: list[Message] = [{"role": "system", "content": system_prompt}] if keep_system else []
        targets: dict[int, int] = {}
        for j, observation in enumerate(observations):
            if j in dropped:
                continue
            if train_observations and j - 1 in steps:
                targets[len(messages)] = OBSERVATION
            messages.append({"role": OBSERVATION_ROLE, "content": observation})
            if j < len(actions):
                if train_actions and j in steps:
                    targets[len(messages)] = ACTION
                messages.append({"role": ACTION_ROLE, "content": actions[j]})
        if not targets:
            return None
        return _assemble(tokenizer, _targets(tokenizer, messages, targets, profile), profile.added_ids)

    def fits(result: tuple[list[int], list[int]]) -> bool:
        return max_length is None or len(result[0]) <= max_length

    chosen = None
    for keep_system in (True, False) if system_prompt else (False,):
        first = build(0, keep_system)
        if first is None:
            return None
        if fits(first):
            chosen = first
            break
        last = build(len(units), keep_system) if units else first
        if not fits(last):
            continue
        low, high, chosen = 0, len(units), last  # build(low) does not fit, build(high) does
        while high - low > 1:
            middle = (low + high) // 2
            candidate = build(middle, keep_system)
            if fits(candidate):
                high, chosen = middle, candidate
            else:
                low = middle
        break
    if chosen is None:
        return None
    ids, types = chosen
    labels = [i if t != CONTEXT else -100 for i, t in zip(ids, types)]
    return {"input_ids": ids, "labels": labels, "token_types": types}


def _step_examples(tokenizer, system, observations, actions, step, mode, max_length, profile) -> list:
    """Examples that train step ``step`` alone (one, or two when its action and observation need different
    contexts)."""
    try:
        return [build_example(tokenizer, system, observations, actions, [step], mode, max_length, profile=profile)]
    except NotOneSequence:  # combined mode with a template that re-renders the action once it is history
        return [
            build_example(tokenizer, system, observations, actions, [step], part, max_length, profile=profile)
            for part in ("behavioral_cloning", "world_model")
        ]


def _row_examples(row: dict[str, Any], tokenizer: Any, mode: str, max_length: int | None, layout: str, profile):
    """All examples of one dataset row (a trajectory or a transition); ``None`` marks a dropped example."""
    system = row.get("system_prompt")
    if "next_observation" in row:  # a transition row: history + action + next observation
        observations = [*row["observations"], row["next_observation"]]
        actions = [*row["actions"], row["action"]]
        return _step_examples(tokenizer, system, observations, actions, len(actions) - 1, mode, max_length, profile)
    observations, actions = row["observations"], row["actions"]
    if not actions:
        return []
    if layout in ("trajectory", "auto"):
        try:
            example = build_example(
                tokenizer, system, observations, actions, range(len(actions)), mode, max_length, profile=profile
            )
        except NotOneSequence as error:
            if layout == "trajectory":
                raise NotOneSequence(f"{error} Use layout='auto' or 'transition' (one example per step).") from None
            example = None
        if example is not None or layout == "trajectory":
            return [example]
    examples = []
    for k in range(len(actions)):
        history = observations[: k + 2], actions[: k + 1]
        examples += _step_examples(tokenizer, system, *history, k, mode, max_length, profile)
    return examples


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
    profile = template_profile(tokenizer)

    def tokenize_batch(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "labels": [], "token_types": []}
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        for index, row in zip(indices, rows):
            try:
                examples = _row_examples(row, tokenizer, mode, max_length, layout, profile)
            except (NotOneSequence, TemplateRewritesContent) as error:
                raise type(error)(f"Row {index}: {error}") from None
            for example in examples:
                example = example or {"input_ids": [], "labels": [], "token_types": []}  # dropped: filtered below
                for key in out:
                    out[key].append(example[key])
        return out

    tokenized = dataset.map(
        tokenize_batch,
        batched=True,
        batch_size=64,
        with_indices=True,
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
