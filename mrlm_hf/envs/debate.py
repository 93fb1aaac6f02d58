"""``debate``: two or more agents argue for and against a motion over several rounds; a judge names the winner.

The learning agent is ``agent_0``: its speeches are the ``env.step`` actions. The other agents are driven by the
``opponent`` policy (any ``policy(conversations, envs) -> list[str]`` callable; by default ``ScriptedDebater``,
which argues its side with the topic's own points). Passing a model policy as ``opponent`` gives self-play. Sides
alternate: ``agent_0`` gets pro or con (drawn from the seed, or ``reset(options={"side": ...})``), ``agent_1`` the
other side, ``agent_2`` the same side as ``agent_0``, and so on. Every agent is judged individually.

Protocol: each round ``agent_0`` speaks first, then all other agents answer at once (one batched ``opponent``
call; agent ``k`` sees ``agent_0``'s speech of this round and the others' speeches of the previous round). An
episode has ``num_rounds`` steps; after the last round the judge decides and the episode terminates. (With
``max_turns < num_rounds`` the debate is cut short, judged, and reported as truncated.) Speeches are read up to
``CHAR_CAP`` characters; other debaters and the judges see the same cut text.

Observation (``agent_0``): the motion, its side and the other debaters (first turn), then each round the others'
latest speeches and the round number; the final observation adds the verdict. Actions: free text (a speech).
Step ``info``: ``task_id`` (``debate-<topic>-<side>``), ``parsed_action`` (the speech, cut to 300 characters;
``None`` if blank), ``error`` (``"empty"``, ``"too_long"`` or ``None``), ``success`` (won), ``round``, and what
the speech earned: ``points``, ``rebuttals`` (point keys), ``penalty`` and the running rule ``score``.

Topics: ``BUILTIN_TOPICS`` holds 32 motions, each with five points for each side. A point has an argument
sentence, a short name, and two or three keyword groups; a sentence *makes* a point when it contains words of at
least two of its groups (two distinct words). ``topic_set`` may also be a list of built-in topic ids and/or custom
topics (dicts, see ``parse_topic``).

Rule judge (``judge="rule"``). Every agent's score is computed by the same function of the transcript
(``DebateScorer``); each speech is read up to ``CHAR_CAP`` (1500) characters and ``MAX_SENTENCES_PER_TURN`` (10)
sentences:

* a sentence of ``MIN_WORDS``-``MAX_WORDS`` (5-50) words that makes a point of the speaker's side earns the next
  point value, ``DECAY**k`` (0.85**k) for the k-th distinct point (diminishing returns); each point counts once per
  agent, one per sentence, at most ``MAX_POINTS_PER_TURN`` (3) per speech;
* rebuttal: a sentence that makes a point an opponent (the other side) made in an earlier phase, contains a word of
  disagreement (``CUE_WORDS``: but, however, ignores, ...) and a keyword of the speaker's own side earns
  ``REBUTTAL_VALUE * DECAY**j`` (0.6 * 0.85**j); each (opponent, point) once per rebutter, at most
  ``MAX_REBUTTALS_PER_TURN`` (3) per speech. A rebutted point counts only ``REBUTTED_FACTOR`` (half) of its value
  for its maker;
* penalties: a sentence that nearly repeats one of the speaker's own sentences (content-word Jaccard >=
  ``DUPLICATE_SIMILARITY``, 0.7) -0.3; one that nearly copies another debater's earlier sentence -0.3; one without
  any topic word -0.1; a keyword list (more than ``STUFFING_DENSITY`` (70%) of its words are topic words, or it
  names three or more points) -0.5; a speech longer than ``CHAR_CAP`` characters -0.5 per ``CHAR_CAP`` of excess
  (at most -1.0). Penalised sentences earn nothing (the ``*_PENALTY`` constants).

So length, keyword stuffing and repetition never pay: only distinct, relevant, well-formed points and rebuttals do.
The highest score wins; scores within ``TIE_MARGIN`` of the best are tied.

Model judge (``judge="model"``): ``judge_policy`` gets one conversation (system + user turn with the transcript)
and must answer ``Winner: agent_k`` or ``Winner: draw``; ``parse_judge_verdict`` reads it robustly (also "the
winner is pro", a bare ``agent_1``, ...) and anything unreadable is a draw. Rule scores are reported either way.

Rewards: at the end, +1 for a win, 0 for a draw (tied at the top, or a model judge's draw), -1 for a loss. With
``shaping > 0`` each speech also earns ``shaping * (the change of the speaker's own rule score caused by that
speech)``: new points and rebuttals are positive, repetition/padding negative, and the positive part is bounded by
the topic's points, so it cannot be farmed (default ``shaping=0``: outcome reward only).

Multi-agent records: the final step's ``info["agent_trajectories"]`` has one dict per other agent
(``agent_id``, ``role``, ``system_prompt``, ``observations`` (one more than ``actions``: the last one carries the
verdict), ``actions``, ``rewards``, ``success``), so one episode yields a trajectory per agent; ``reset`` info has
``agent_id`` ("agent_0") and ``role`` ("pro"/"con"). Final info also has ``scores`` (rule scores by agent),
``score_details`` and ``verdict``.

Scripted opponent (``ScriptedDebater``, also ``env.scripted_action()``): one new point per speech (two with
probability 0.35) in a seeded random order, plus a rebuttal of the latest opposing point with probability 0.4.
Expert (``env.expert_action()``; ``DebateAgentView.expert_action()`` for the others): two new points per speech in
the topic's order (restated in its own words if a teammate already used the sentence) plus a rebuttal of each
opposing point it has not answered yet. Against the scripted opponent it wins about 99% of episodes under the
rule judge (2 to 4 agents), although the other side always has the last word; a random ``sample_action`` wins
almost never.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mrlm_hf.envs.base import TextEnv, coerce_action
from mrlm_hf.envs.registry import register_env

__all__ = [
    "BUILTIN_TOPICS",
    "DebateAgentView",
    "DebateEnv",
    "DebateScorer",
    "Point",
    "ScriptedDebater",
    "Topic",
    "list_topics",
    "parse_judge_verdict",
    "parse_topic",
    "rule_verdict",
]

# ============================================================================================= constants
#: Characters of each speech that are read (by the judges and by the other debaters); the rest is ignored.
CHAR_CAP = 1500
#: Sentences of each speech that are read (a sentence ends at ``.``, ``!`` or ``?`` plus a space, or a line break).
MAX_SENTENCES_PER_TURN = 10
#: Sentences shorter than this (words) are ignored; longer than ``MAX_WORDS`` earn nothing.
MIN_WORDS = 5
MAX_WORDS = 50
#: Credit is capped per speech, so saying everything at once earns less than arguing over several rounds.
MAX_POINTS_PER_TURN = 3
MAX_REBUTTALS_PER_TURN = 3
#: The k-th distinct point (k = 0, 1, ...) is worth ``POINT_VALUE * DECAY**k``; rebuttals likewise.
POINT_VALUE = 1.0
REBUTTAL_VALUE = 0.6
DECAY = 0.85
#: A point that an opponent rebutted counts this fraction of its value.
REBUTTED_FACTOR = 0.5
#: Penalties (subtracted from the score).
REPEAT_PENALTY = 0.3
COPY_PENALTY = 0.3
OFF_TOPIC_PENALTY = 0.1
STUFFING_PENALTY = 0.5
LENGTH_PENALTY = 0.5
#: Jaccard similarity of content words at or above which two sentences count as the same sentence.
DUPLICATE_SIMILARITY = 0.7
#: Share of topic words above which a sentence is a keyword list.
STUFFING_DENSITY = 0.7
#: A sentence naming this many points or more is a keyword list.
STUFFING_POINTS = 3
#: Scores closer than this to the best score are tied with it.
TIE_MARGIN = 0.05
#: Outcome rewards.
REWARD_WIN, REWARD_DRAW, REWARD_LOSS = 1.0, 0.0, -1.0
#: Characters of an action kept in ``info["parsed_action"]``.
PARSED_ACTION_CHARS = 300

SIDES = ("pro", "con")
_SIDE_WORDS = {"pro": "for", "con": "against"}

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_KEYWORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?\*?")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")
#: Words of disagreement: a sentence rebuts a point only if it names the point and uses one of these.
CUE_WORDS = frozenset(
    "but however yet although though whereas ignores ignore ignoring overlooks overlook overlooking wrong fails fail "
    "failing misses miss missing weaker overstated overstates exaggerates exaggerated misleading not never unless "
    "instead outweigh outweighs outweighed disagree forgets forget doesn't isn't aren't don't can't cannot won't "
    "flawed false untrue myth".split()
)
_STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that these "
    "those there their they them he she his her we our us you your i me my not no so if than then too very can could "
    "would should will shall may might must do does did has have had more most less many much such also only just "
    "which who whom what when where why how all any each every some other into about over under up down out off".split()
)


# ============================================================================================= text analysis
def _tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower().replace("\u2019", "'"))


@functools.lru_cache(maxsize=65536)
def _norm(token: str) -> str:
    """Light normalisation for exact keyword matches: drop a possessive and a plural ending."""
    if token.endswith("'s"):
        token = token[:-2]
    token = token.replace("'", "")
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def _signature(tokens: Sequence[str]) -> frozenset[str]:
    """Content-word stems of a sentence, for near-duplicate detection."""
    return frozenset(_norm(t)[:6] for t in tokens if t not in _STOPWORDS)


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= DUPLICATE_SIMILARITY


def split_sentences(text: str) -> list[str]:
    """Sentences of a speech: split after ``.``, ``!``, ``?`` followed by whitespace, and at line breaks."""
    return [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s and s.strip()]


def cut_speech(text: str) -> str:
    """The part of a speech that is read (``CHAR_CAP`` characters), marked when cut."""
    text = text.strip()
    return text if len(text) <= CHAR_CAP else text[:CHAR_CAP] + " [...]"


# ============================================================================================= topics
@dataclass(frozen=True)
class Point:
    """One argument of one side: a sentence, a short name, and keyword groups (tuples of alternatives)."""

    key: str
    side: str
    text: str
    short: str
    groups: tuple[tuple[str, ...], ...]


class Topic:
    """A motion with the points of each side, and a matcher that finds which points a sentence makes."""

    def __init__(self, topic_id: str, motion: str, keywords: Sequence[str], pro: Sequence[Point], con: Sequence[Point]):
        self.id, self.motion = topic_id, motion
        self.keywords = tuple(keywords)
        self.sides: dict[str, tuple[Point, ...]] = {"pro": tuple(pro), "con": tuple(con)}
        self.points: tuple[Point, ...] = self.sides["pro"] + self.sides["con"]
        self.index = {p.key: i for i, p in enumerate(self.points)}
        self._exact: dict[str, list[tuple[int, int]]] = {}
        self._prefix: dict[str, list[tuple[int, int]]] = {}
        # Motion keywords are point -1 (they mark a sentence as on-topic but make no point).
        for point_index, groups in [(-1, (self.keywords,))] + [(i, p.groups) for i, p in enumerate(self.points)]:
            for group_index, group in enumerate(groups):
                for word in group:
                    if word.endswith("*"):
                        self._prefix.setdefault(word[:-1], []).append((point_index, group_index))
                    else:
                        self._exact.setdefault(_norm(word), []).append((point_index, group_index))
        self._max_prefix = max((len(k) for k in self._prefix), default=0)
        self._side_of = [p.side for p in self.points]
        self._hits: dict[str, tuple[tuple[int, int], ...]] = {}

    def side_points(self, side: str) -> tuple[Point, ...]:
        return self.sides[side]

    def token_hits(self, token: str) -> tuple[tuple[int, int], ...]:
        """(point index, group index) pairs a word matches; point -1 means a motion keyword."""
        cached = self._hits.get(token)
        if cached is None:
            hits = list(self._exact.get(_norm(token), ()))
            for length in range(1, min(len(token), self._max_prefix) + 1):
                hits.extend(self._prefix.get(token[:length], ()))
            cached = tuple(hits)
            if len(self._hits) < 50_000:  # bounded: garbage text cannot grow it without limit
                self._hits[token] = cached
        return cached

    def analyse(self, tokens: Sequence[str]) -> tuple[list[int], int, set[str]]:
        """Points made by a sentence (indices), how many of its words are topic words, and the sides it uses."""
        groups: dict[int, set[int]] = {}
        words: dict[int, set[str]] = {}
        topic_words = 0
        sides_used: set[str] = set()
        for token in tokens:
            hits = self.token_hits(token)
            if not hits:
                continue
            topic_words += 1
            for point_index, group_index in hits:
                if point_index < 0:
                    continue
                groups.setdefault(point_index, set()).add(group_index)
                words.setdefault(point_index, set()).add(token)
                sides_used.add(self._side_of[point_index])
        made = [
            i
            for i in sorted(groups)
            if len(groups[i]) >= min(2, len(self.points[i].groups))
            and len(words[i]) >= min(2, len(self.points[i].groups))
        ]
        return made, topic_words, sides_used

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form accepted by ``parse_topic``."""

        def point(p: Point) -> dict[str, Any]:
            return {"text": p.text, "short": p.short, "keywords": [" ".join(g) for g in p.groups]}

        return {
            "id": self.id,
            "motion": self.motion,
            "keywords": " ".join(self.keywords),
            "pro": [point(p) for p in self.sides["pro"]],
            "con": [point(p) for p in self.sides["con"]],
        }


def _parse_group(text: str) -> tuple[str, ...]:
    words = tuple(text.lower().split())
    for word in words:
        if not _KEYWORD_RE.fullmatch(word) or (word.endswith("*") and len(word) < 4):
            raise ValueError(f"Bad keyword {word!r}: use single words, 'prefix*' with at least 3 letters.")
    if not words:
        raise ValueError("Empty keyword group.")
    return words


def _parse_point(spec: Any, key: str, side: str) -> Point:
    if isinstance(spec, str):
        parts = [part.strip() for part in spec.split(" | ")]
        if len(parts) != 3:
            raise ValueError(f"Point {key}: expected 'TEXT | SHORT | GROUP / GROUP', got {spec!r}.")
        text, short, groups = parts[0], parts[1], [g for g in parts[2].split(" / ")]
    elif isinstance(spec, dict):
        text, short, groups = spec.get("text"), spec.get("short"), spec.get("keywords")
        if isinstance(groups, str):
            groups = groups.split(" / ")
    else:
        raise ValueError(f"Point {key}: expected a string or a dict, got {type(spec).__name__}.")
    if not isinstance(text, str) or not text.strip() or not isinstance(short, str) or not short.strip():
        raise ValueError(f"Point {key}: 'text' and 'short' must be non-empty strings.")
    if not isinstance(groups, list | tuple) or not groups:
        raise ValueError(f"Point {key}: 'keywords' must list keyword groups.")
    return Point(key, side, text.strip(), short.strip(), tuple(_parse_group(str(g)) for g in groups))


def parse_topic(spec: dict[str, Any]) -> Topic:
    """Build a ``Topic`` from a dict: ``{"id", "motion", "keywords" (optional, space-separated words), "pro": [...],
    "con": [...]}``; each point is ``{"text", "short", "keywords": ["word word*", "word ..."]}`` (two or more
    groups of alternatives) or the compact string ``"TEXT | SHORT | word word* / word ..."``."""
    if not isinstance(spec, dict):
        raise ValueError(f"A topic must be a dict, got {type(spec).__name__}.")
    topic_id, motion = spec.get("id"), spec.get("motion")
    if not isinstance(topic_id, str) or not topic_id or not isinstance(motion, str) or not motion.strip():
        raise ValueError("A topic needs a non-empty 'id' and 'motion'.")
    keywords = spec.get("keywords") or ""
    keywords = _parse_group(keywords if isinstance(keywords, str) else " ".join(keywords)) if keywords else ()
    sides = {}
    for side in SIDES:
        points = spec.get(side)
        if not isinstance(points, list | tuple) or not points:
            raise ValueError(f"Topic {topic_id!r} needs at least one {side} point.")
        sides[side] = [_parse_point(p, f"{topic_id}/{side}/{i}", side) for i, p in enumerate(points)]
    return Topic(topic_id, motion.strip(), keywords, sides["pro"], sides["con"])


# ============================================================================================= rule judge
@dataclass
class _Sentence:
    agent: int
    phase: int
    signature: frozenset[str]


class DebateScorer:
    """Incremental rule-based scoring of a debate (see the module docstring): ``add_turn`` each speech in order,
    ``score(agent)`` at any time. Every agent is scored by the same rules.

    ``phase`` orders speeches: a rebuttal only counts against a point made in an earlier phase, and copying is
    only checked against earlier phases (speeches of one phase are simultaneous)."""

    def __init__(self, topic: Topic, sides: Sequence[str]) -> None:
        self.topic = topic
        self.sides = list(sides)
        n = len(self.sides)
        self.points: list[list[int]] = [[] for _ in range(n)]  # point indices credited, in order
        self.point_phase: dict[tuple[int, int], int] = {}  # (agent, point) -> phase it was made in
        self.rebutted: set[tuple[int, int]] = set()  # (agent, point) rebutted by an opponent
        self.rebuttals: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # (target agent, point)
        self.penalty = [0.0] * n
        self.counts = [dict(repeats=0, copies=0, off_topic=0, stuffed=0, too_long=0) for _ in range(n)]
        self.sentences: list[_Sentence] = []

    # ------------------------------------------------------------------ scores
    def score(self, agent: int) -> float:
        value = sum(
            POINT_VALUE * DECAY**k * (REBUTTED_FACTOR if (agent, p) in self.rebutted else 1.0)
            for k, p in enumerate(self.points[agent])
        )
        value += sum(REBUTTAL_VALUE * DECAY**j for j in range(len(self.rebuttals[agent])))
        return value - self.penalty[agent]

    def scores(self) -> list[float]:
        return [self.score(a) for a in range(len(self.sides))]

    def details(self, agent: int) -> dict[str, Any]:
        return {
            "score": round(self.score(agent), 4),
            "points": len(self.points[agent]),
            "rebuttals": len(self.rebuttals[agent]),
            "points_rebutted": sum((agent, p) in self.rebutted for p in self.points[agent]),
            "penalty": round(self.penalty[agent], 4),
            **self.counts[agent],
        }

    # ------------------------------------------------------------------ queries used by the scripted debaters
    def credited(self, agent: int) -> set[int]:
        return set(self.points[agent])

    def was_said(self, text: str, agent: int | None = None) -> bool:
        """Whether a sentence of ``text`` nearly repeats one already said (by ``agent``, or by anyone)."""
        for sentence in split_sentences(text):
            signature = _signature(_tokens(sentence))
            for s in self.sentences:
                if (agent is None or s.agent == agent) and _similar(signature, s.signature):
                    return True
        return False

    def rebuttal_targets(self, agent: int, phase: int) -> list[tuple[int, int]]:
        """(opponent, point) pairs ``agent`` may still rebut in ``phase``, most recent first."""
        done = set(self.rebuttals[agent])
        targets = [
            (other, p, self.point_phase[(other, p)])
            for other in range(len(self.sides))
            if self.sides[other] != self.sides[agent]
            for p in self.points[other]
            if self.point_phase[(other, p)] < phase and (other, p) not in done
        ]
        targets.sort(key=lambda t: (-t[2], t[0], self.points[t[0]].index(t[1])))
        return [(other, p) for other, p, _ in targets]

    # ------------------------------------------------------------------ scoring one speech
    def add_turn(self, agent: int, phase: int, text: str) -> dict[str, Any]:
        """Score one speech of ``agent`` and return what it earned: ``points`` and ``rebuttals`` (point keys),
        ``penalty`` and the score change ``delta``."""
        before = self.score(agent)
        side = self.sides[agent]
        counts = self.counts[agent]
        new_points: list[str] = []
        new_rebuttals: list[str] = []
        penalty = 0.0
        if len(text) > CHAR_CAP:
            counts["too_long"] += 1
            penalty += LENGTH_PENALTY * min(2.0, (len(text) - CHAR_CAP) / CHAR_CAP)
        own = set(self.points[agent])
        for sentence in split_sentences(text[:CHAR_CAP])[:MAX_SENTENCES_PER_TURN]:
            tokens = _tokens(sentence)
            if len(tokens) < MIN_WORDS:
                continue
            signature = _signature(tokens)
            mine = any(s.agent == agent and _similar(signature, s.signature) for s in self.sentences)
            copied = not mine and any(
                s.agent != agent and s.phase < phase and _similar(signature, s.signature) for s in self.sentences
            )
            self.sentences.append(_Sentence(agent, phase, signature))
            if mine:
                counts["repeats"] += 1
                penalty += REPEAT_PENALTY
                continue
            if copied:
                counts["copies"] += 1
                penalty += COPY_PENALTY
                continue
            if len(tokens) > MAX_WORDS:
                continue
            made, topic_words, sides_used = self.topic.analyse(tokens)
            if topic_words == 0:
                counts["off_topic"] += 1
                penalty += OFF_TOPIC_PENALTY
                continue
            if topic_words > STUFFING_DENSITY * len(tokens) or len(made) >= STUFFING_POINTS:
                counts["stuffed"] += 1
                penalty += STUFFING_PENALTY
                continue
            for i in made:  # at most one own point per sentence
                if self.topic.points[i].side == side and i not in own and len(new_points) < MAX_POINTS_PER_TURN:
                    own.add(i)
                    self.points[agent].append(i)
                    self.point_phase[(agent, i)] = phase
                    new_points.append(self.topic.points[i].key)
                    break
            if len(new_rebuttals) >= MAX_REBUTTALS_PER_TURN or side not in sides_used:
                continue
            if not CUE_WORDS.intersection(tokens):
                continue
            targets = self.rebuttal_targets(agent, phase)
            for other, i in targets:  # at most one rebuttal per sentence
                if i in made:
                    self.rebuttals[agent].append((other, i))
                    self.rebutted.add((other, i))
                    new_rebuttals.append(f"{self.topic.points[i].key}@agent_{other}")
                    break
        self.penalty[agent] += penalty
        return {
            "points": new_points,
            "rebuttals": new_rebuttals,
            "penalty": round(penalty, 4),
            "delta": self.score(agent) - before,
        }


def rule_verdict(scores: Sequence[float]) -> tuple[list[float], list[int]]:
    """Outcome rewards from rule scores: the unique best gets +1, the rest -1; agents tied (within ``TIE_MARGIN``)
    at the top get 0 (a draw). Returns (rewards, agents at the top)."""
    best = max(scores)
    top = [a for a, s in enumerate(scores) if s >= best - TIE_MARGIN]
    if len(top) == 1:
        return [REWARD_WIN if a in top else REWARD_LOSS for a in range(len(scores))], top
    return [REWARD_DRAW if a in top else REWARD_LOSS for a in range(len(scores))], top


# ============================================================================================= model judge
JUDGE_SYSTEM_PROMPT = "You are an impartial debate judge. You read a debate transcript and name the winner."

_VERDICT_RE = re.compile(
    r"winner\W{0,6}(?:is\W{0,4}|was\W{0,4})?(?:the\W{0,4})?(agent[\s_\-]?(\d+)|draw|tie|nobody|none|neither|pro|con)\b",
    re.IGNORECASE,
)
_AGENT_RE = re.compile(r"\bagent[\s_\-]?(\d+)\b", re.IGNORECASE)
_BARE_RE = re.compile(r"[\s*_`'\".:!()\[\]-]+")


def parse_judge_verdict(text: Any, sides: Sequence[str]) -> str:
    """Read a judge's answer: ``"agent_<k>"`` for a valid agent, else ``"draw"`` (a draw, or unreadable).

    Accepted, last match wins: ``Winner: agent_1`` / ``The winner is agent 1`` / ``Winner: draw`` (or ``tie``) /
    ``Winner: pro`` (when exactly one agent argues that side); then a bare answer (``agent_1``, ``draw``); then
    an answer mentioning exactly one agent."""
    try:
        text = coerce_action(text)[:4000]
        n = len(sides)

        def resolve(word: str, number: str | None) -> str | None:
            word = word.lower()
            if number is not None:
                k = int(number) if len(number) < 6 else -1
                return f"agent_{k}" if 0 <= k < n else "draw"
            if word in ("pro", "con"):
                holders = [a for a, s in enumerate(sides) if s == word]
                return f"agent_{holders[0]}" if len(holders) == 1 else "draw"
            return "draw"

        matches = list(_VERDICT_RE.finditer(text))
        if matches:
            return resolve(matches[-1].group(1), matches[-1].group(2)) or "draw"
        bare = _BARE_RE.sub(" ", text).strip().lower()
        bare_match = re.fullmatch(r"agent\s?(\d+)|draw|tie|pro|con", bare)
        if bare_match:
            return resolve(bare, bare_match.group(1)) or "draw"
        mentioned = {m.group(1) for m in _AGENT_RE.finditer(text)}
        if len(mentioned) == 1:
            return resolve("agent", mentioned.pop()) or "draw"
    except Exception:  # a parser of untrusted text must never raise
        pass
    return "draw"


# ============================================================================================= scripted debaters
_REBUTTAL_TEMPLATES = (
    "{Name} points to {opp}, but that ignores {own}.",
    "The point about {opp} is overstated, because it does not weigh {own}.",
    "Even granting {opp}, it does not outweigh {own}.",
    "{Name} emphasises {opp}, yet overlooks {own}.",
)
_SCRIPTED_REBUTTAL = "I disagree that {opp} is decisive, because {own} matters more."
_RESTATEMENT = "{short} is another good ground to {word} the motion."
_SCRIPTED_LEADS = ("", "Consider this: ", "Remember: ", "Moreover: ")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class DebateAgentView:
    """What an opponent policy receives as the environment of one non-learning agent: ``expert_action()``,
    ``scripted_action()``, ``sample_action(rng)`` for that agent, plus ``system_prompt`` and ``stop_strings``
    (so ``ExpertPolicy`` and model policies work as opponents)."""

    name = "debate"

    def __init__(self, env: DebateEnv, agent: int) -> None:
        self.env, self.agent = env, agent
        self.agent_id = f"agent_{agent}"
        self.system_prompt = env.system_prompt
        self.stop_strings = env.stop_strings

    @property
    def role(self) -> str:
        return self.env.sides[self.agent]

    def expert_action(self) -> str:
        return self.env.expert_action_for(self.agent)

    def scripted_action(self) -> str:
        return self.env.scripted_action_for(self.agent)

    def sample_action(self, rng: random.Random) -> str:
        return self.env.sample_action_for(self.agent, rng)


class ScriptedDebater:
    """The default opponent: argues its side with one or two of the topic's points per speech (in a seeded random
    order) and now and then rebuts a point of the other side. Needs the environments (``DebateAgentView`` or
    ``DebateEnv``), like ``ExpertPolicy``."""

    name = "scripted_debater"

    def __call__(self, conversations: list[list[dict[str, str]]], envs: Sequence[Any] | None = None) -> list[str]:
        if envs is None:
            raise ValueError("ScriptedDebater needs the environments (it reads the debate state).")
        return [env.scripted_action() for env in envs]


# ============================================================================================= environment
class DebateEnv(TextEnv):
    """A debate between ``num_agents`` agents over ``num_rounds`` rounds; ``agent_0`` is the learner.

    Args:
        num_agents: debaters (>= 2); sides alternate starting from ``agent_0``'s side.
        num_rounds: speeches per agent (one ``step`` each for ``agent_0``).
        topic_set: ``"builtin"`` (all ``BUILTIN_TOPICS``) or a list of built-in topic ids and/or topic dicts
            (see ``parse_topic``).
        opponent: policy for the other agents (``None`` or ``"scripted"``: ``ScriptedDebater``). ``config``
            records a callable as ``"<policy>"``; pass it again to recreate the environment.
        judge: ``"rule"`` (``DebateScorer``) or ``"model"`` (``judge_policy`` names the winner).
        judge_policy: policy for the model judge.
        shaping: scale of the per-speech shaping reward (0 disables it).
        max_turns: defaults to ``num_rounds``; a smaller value cuts the debate short (truncated, still judged).

    See the module docstring for the protocol, the judges and the rewards.
    """

    name = "debate"
    system_prompt = (
        "You are a debater. You get a motion, your side (for or against it) and the other debaters' latest "
        "speeches. Each turn, write a short speech of a few complete sentences: make new, distinct points for your "
        "side and rebut the other side's points by naming them and saying why your side's considerations outweigh "
        "them. The judge rewards distinct relevant points and rebuttals; repeated sentences, keyword lists, "
        f"off-topic text and speeches over {CHAR_CAP} characters are penalised."
    )
    stop_strings = ()

    def __init__(
        self,
        num_agents: int = 2,
        num_rounds: int = 3,
        topic_set: str | Sequence[str | dict[str, Any]] = "builtin",
        opponent: Callable[..., list[str]] | str | None = None,
        judge: str = "rule",
        judge_policy: Callable[..., list[str]] | str | None = None,
        shaping: float = 0.0,
        max_turns: int | None = None,
    ) -> None:
        if isinstance(num_agents, bool) or not isinstance(num_agents, int) or num_agents < 2:
            raise ValueError(f"num_agents must be an int >= 2, got {num_agents!r}")
        if isinstance(num_rounds, bool) or not isinstance(num_rounds, int) or num_rounds < 1:
            raise ValueError(f"num_rounds must be an int >= 1, got {num_rounds!r}")
        super().__init__(max_turns=num_rounds if max_turns is None else max_turns)
        if judge not in ("rule", "model"):
            raise ValueError(f"judge must be 'rule' or 'model', got {judge!r}")
        for label, policy in (("opponent", opponent), ("judge_policy", judge_policy)):
            if isinstance(policy, str) and not (label == "opponent" and policy == "scripted"):
                raise TypeError(
                    f"{label} must be a policy callable{' or None/scripted' if label == 'opponent' else ' or None'}, "
                    f"got the string {policy!r}; a config's '<policy>' marker means the policy has to be passed again."
                )
            if policy is not None and not isinstance(policy, str) and not callable(policy):
                raise TypeError(f"{label} must be callable, got {type(policy).__name__}")
        if judge == "model" and judge_policy is None:
            raise ValueError("judge='model' needs a judge_policy.")
        if not isinstance(shaping, int | float) or isinstance(shaping, bool) or not shaping >= 0:
            raise ValueError(f"shaping must be a number >= 0, got {shaping!r}")
        self.num_agents, self.num_rounds = num_agents, num_rounds
        self.topic_set = topic_set
        self.topics = self._load_topics(topic_set)
        self.opponent = ScriptedDebater() if opponent is None or isinstance(opponent, str) else opponent
        self._opponent_is_scripted = opponent is None or isinstance(opponent, str)
        self.judge, self.judge_policy = judge, judge_policy
        self.shaping = float(shaping)
        self._max_turns_arg = max_turns
        self.views = [DebateAgentView(self, a) for a in range(num_agents)]
        # Episode state (set by reset).
        self.topic: Topic | None = None
        self.sides: list[str] = []
        self.scorer: DebateScorer | None = None
        self.task_id: str | None = None
        self.transcript: list[tuple[int, int, str]] = []  # (round, agent, speech as read)
        self.records: list[dict[str, Any]] = []  # per agent: observations, actions, rewards
        self._orders: list[list[int]] = []
        self._last_seen: list[int] = []

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _load_topics(topic_set: Any) -> list[Topic]:
        if isinstance(topic_set, str):
            if topic_set != "builtin":
                raise ValueError(f"topic_set must be 'builtin' or a list of topics, got {topic_set!r}")
            return list(BUILTIN_TOPICS.values())
        if not isinstance(topic_set, list | tuple) or not topic_set:
            raise ValueError("topic_set must be 'builtin' or a non-empty list of topic ids / topic dicts.")
        topics = []
        for item in topic_set:
            if isinstance(item, str):
                if item not in BUILTIN_TOPICS:
                    raise ValueError(f"Unknown topic {item!r}; built-in topics: {', '.join(BUILTIN_TOPICS)}")
                topics.append(BUILTIN_TOPICS[item])
            else:
                topics.append(parse_topic(item))
        if len({t.id for t in topics}) != len(topics):
            raise ValueError("Topic ids in topic_set must be unique.")
        return topics

    @property
    def config(self) -> dict[str, Any]:
        return {
            "num_agents": self.num_agents,
            "num_rounds": self.num_rounds,
            "topic_set": self.topic_set if isinstance(self.topic_set, str) else list(self.topic_set),
            "opponent": "scripted" if self._opponent_is_scripted else "<policy>",
            "judge": self.judge,
            "judge_policy": None if self.judge_policy is None else "<policy>",
            "shaping": self.shaping,
            "max_turns": self._max_turns_arg,
        }

    # ------------------------------------------------------------------ helpers
    @property
    def rounds_to_play(self) -> int:
        return min(self.num_rounds, self.max_turns)

    def _label(self, agent: int) -> str:
        return f"agent_{agent} ({self.sides[agent]})"

    def _phase(self, round_number: int, agent: int) -> int:
        return 2 * (round_number - 1) + (0 if agent == 0 else 1)

    def _require_episode(self) -> tuple[Topic, DebateScorer]:
        if self.topic is None or self.scorer is None:
            raise RuntimeError("DebateEnv: call reset() first.")
        return self.topic, self.scorer

    def _intro(self, agent: int) -> str:
        topic, _ = self._require_episode()
        side = self.sides[agent]
        others = ", ".join(
            f"agent_{a} ({_SIDE_WORDS[self.sides[a]]}, {self.sides[a]})" for a in range(self.num_agents) if a != agent
        )
        order = (
            "in each round you speak first, then the others reply"
            if agent == 0
            else "in each round agent_0 speaks first, then you and the other debaters reply"
        )
        return (
            f"Motion: {topic.motion}\n"
            f"You are agent_{agent} and argue {_SIDE_WORDS[side].upper()} the motion ({side}). "
            f"{'Opponent' if self.num_agents == 2 else 'Other debaters'}: {others}.\n"
            f"The debate has {self.rounds_to_play} round{'s' if self.rounds_to_play != 1 else ''}; {order}."
        )

    def _speeches_since(self, agent: int) -> list[str]:
        """The other agents' speeches this agent has not seen yet (marks them seen)."""
        start = self._last_seen[agent]
        self._last_seen[agent] = len(self.transcript)
        return [
            f"[{self._label(a)}]: {text or '(no argument)'}" for _, a, text in self.transcript[start:] if a != agent
        ]

    def _turn_prompt(self, agent: int, round_number: int) -> str:
        word = _SIDE_WORDS[self.sides[agent]]
        if round_number == 1 and agent == 0:
            return f"Round 1 of {self.rounds_to_play}: give your opening speech {word} the motion."
        return (
            f"Round {round_number} of {self.rounds_to_play}: your turn. Make new points {word} the motion and rebut "
            "the other side's points."
        )

    @property
    def concurrent_steps(self) -> bool:
        """Only the built-in scripted opponent is private to this instance; a user's (model) opponent may be shared."""
        return isinstance(self.opponent, ScriptedDebater)

    # ------------------------------------------------------------------ episode
    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seed = self._seed
        if not isinstance(seed, int) or isinstance(seed, bool):
            seed = self.rng.randrange(2**31)
            self.rng = random.Random(seed)
        wanted_topic, wanted_side = options.get("topic"), options.get("side")
        if wanted_topic is not None:
            matches = [t for t in self.topics if t.id == wanted_topic]
            if not matches:
                raise ValueError(f"Unknown topic {wanted_topic!r} for this topic_set.")
            topic = matches[0]
        else:
            topic = self.rng.choice(self.topics)
        side = wanted_side if wanted_side is not None else self.rng.choice(SIDES)
        if side not in SIDES:
            raise ValueError(f"side must be 'pro' or 'con', got {side!r}")
        other = "con" if side == "pro" else "pro"
        self.topic = topic
        self.sides = [side if a % 2 == 0 else other for a in range(self.num_agents)]
        self.scorer = DebateScorer(topic, self.sides)
        self.task_id = f"debate-{topic.id}-{side}"
        self.transcript = []
        self._last_seen = [0] * self.num_agents
        self._orders = []
        for a in range(self.num_agents):
            order = [topic.index[p.key] for p in topic.side_points(self.sides[a])]
            self.rng.shuffle(order)
            self._orders.append(order)
        self.records = [{"observations": [], "actions": [], "rewards": []} for _ in range(self.num_agents)]
        observation = f"{self._intro(0)}\n{self._turn_prompt(0, 1)}"
        info = self._info(None, None)
        info.update(agent_id="agent_0", role=side, topic=topic.id, motion=topic.motion, round=1)
        return observation, info

    def _info(self, parsed: str | None, error: str | None, success: bool = False) -> dict[str, Any]:
        return {"task_id": self.task_id, "parsed_action": parsed, "error": error, "success": success}

    def _call_opponent(self, agents: list[int]) -> list[str]:
        conversations = []
        for a in agents:
            record = self.records[a]
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            for i, observation in enumerate(record["observations"]):
                messages.append({"role": "user", "content": observation})
                if i < len(record["actions"]):
                    messages.append({"role": "assistant", "content": record["actions"][i]})
            conversations.append(messages)
        actions = self.opponent(conversations, [self.views[a] for a in agents])
        if isinstance(actions, str | bytes) or not isinstance(actions, Sequence) or len(actions) != len(agents):
            got = len(actions) if isinstance(actions, Sequence) and not isinstance(actions, str | bytes) else actions
            raise ValueError(f"The opponent policy returned {got!r} actions for {len(agents)} conversations.")
        return [coerce_action(a) for a in actions]

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        _, scorer = self._require_episode()
        round_number = self.turn
        last = round_number >= self.rounds_to_play
        # agent_0 speaks.
        report = scorer.add_turn(0, self._phase(round_number, 0), action)
        self.transcript.append((round_number, 0, cut_speech(action)))
        reward0 = self.shaping * report["delta"]
        # The others answer together.
        others = list(range(1, self.num_agents))
        for a in others:
            lines = self._speeches_since(a)
            if round_number == 1:
                text = f"{self._intro(a)}\nThe latest speeches:\n" + "\n".join(lines)
            else:
                text = "The latest speeches:\n" + "\n".join(lines)
            self.records[a]["observations"].append(f"{text}\n{self._turn_prompt(a, round_number)}")
        replies = self._call_opponent(others)
        for a, reply in zip(others, replies):
            self.records[a]["actions"].append(reply)
            self.records[a]["rewards"].append(0.0)
            report_a = scorer.add_turn(a, self._phase(round_number, a), reply)
            self.records[a]["rewards"][-1] = self.shaping * report_a["delta"]
        for a, reply in zip(others, replies):
            self.transcript.append((round_number, a, cut_speech(reply)))
        lines = self._speeches_since(0)
        observation = f"Round {round_number} replies:\n" + "\n".join(lines)
        stripped = action.strip()
        parsed = stripped[:PARSED_ACTION_CHARS] or None
        error = "empty" if not stripped else ("too_long" if len(action) > CHAR_CAP else None)
        info = self._info(parsed, error)
        info.update(
            agent_id="agent_0",
            role=self.sides[0],
            round=round_number,
            points=report["points"],
            rebuttals=report["rebuttals"],
            penalty=report["penalty"],
            score=round(scorer.score(0), 4),
        )
        if not last:
            observation += f"\n{self._turn_prompt(0, round_number + 1)}"
            return observation, reward0, False, info
        outcome, verdict = self._judge()
        verdict_line = self._verdict_line(verdict)
        result = {REWARD_WIN: "you win (+1)", REWARD_DRAW: "a draw (0)", REWARD_LOSS: "you lose (-1)"}
        observation += f"\nThe debate is over. {verdict_line} Result: {result[outcome[0]]}."
        trajectories = []
        for a in others:
            record = self.records[a]
            record["observations"].append(f"The debate is over. {verdict_line} Result: {result[outcome[a]]}.")
            if record["rewards"]:
                record["rewards"][-1] += outcome[a]
            trajectories.append(
                {
                    "agent_id": f"agent_{a}",
                    "role": self.sides[a],
                    "system_prompt": self.system_prompt,
                    "observations": list(record["observations"]),
                    "actions": list(record["actions"]),
                    "rewards": [float(r) for r in record["rewards"]],
                    "success": outcome[a] == REWARD_WIN,
                }
            )
        info.update(
            success=outcome[0] == REWARD_WIN,
            scores={f"agent_{a}": round(s, 4) for a, s in enumerate(scorer.scores())},
            score_details={f"agent_{a}": scorer.details(a) for a in range(self.num_agents)},
            verdict=verdict,
            agent_trajectories=trajectories,
        )
        return observation, reward0 + outcome[0], round_number >= self.num_rounds, info

    # ------------------------------------------------------------------ judging
    def _judge(self) -> tuple[list[float], dict[str, Any]]:
        _, scorer = self._require_episode()
        scores = scorer.scores()
        if self.judge == "rule":
            outcome, top = rule_verdict(scores)
            winner = f"agent_{top[0]}" if len(top) == 1 else "draw"
            verdict = {"judge": "rule", "winner": winner, "tied": [f"agent_{a}" for a in top] if len(top) > 1 else []}
        else:
            prompt = self.judge_prompt()
            answers = self.judge_policy([prompt], None)  # type: ignore[misc]
            raw = (
                answers[0]
                if isinstance(answers, Sequence) and not isinstance(answers, str | bytes) and answers
                else answers
            )
            raw_text = coerce_action(raw)
            winner = parse_judge_verdict(raw_text, self.sides)
            if winner == "draw":
                outcome = [REWARD_DRAW] * self.num_agents
            else:
                k = int(winner.split("_")[1])
                outcome = [REWARD_WIN if a == k else REWARD_LOSS for a in range(self.num_agents)]
            verdict = {"judge": "model", "winner": winner, "tied": [], "judge_output": raw_text[:500]}
        verdict["outcome"] = {REWARD_WIN: "win", REWARD_DRAW: "draw", REWARD_LOSS: "loss"}[outcome[0]]
        return outcome, verdict

    def _verdict_line(self, verdict: dict[str, Any]) -> str:
        _, scorer = self._require_episode()
        scores = ", ".join(f"agent_{a} {s:.2f}" for a, s in enumerate(scorer.scores()))
        if verdict["winner"] == "draw":
            decision = "a draw" + (f" between {', '.join(verdict['tied'])}" if verdict["tied"] else "")
        else:
            decision = f"{verdict['winner']} wins"
        return f"Verdict ({verdict['judge']} judge): {decision}. Rule scores: {scores}."

    def judge_prompt(self) -> list[dict[str, str]]:
        """The conversation sent to the model judge: the motion, the sides and the whole transcript."""
        topic, _ = self._require_episode()
        debaters = ", ".join(f"agent_{a} ({_SIDE_WORDS[s]} the motion, {s})" for a, s in enumerate(self.sides))
        lines = [f"Motion: {topic.motion}", f"Debaters: {debaters}.", "", "Transcript:"]
        current = 0
        for round_number, a, text in self.transcript:
            if round_number != current:
                current = round_number
                lines.append(f"Round {round_number}")
            lines.append(f"[{self._label(a)}]: {text or '(no argument)'}")
        options = ", ".join(f"'Winner: agent_{a}'" for a in range(self.num_agents))
        lines += [
            "",
            "Who argued better? Weigh distinct, relevant points and rebuttals of the other side; ignore length, "
            f"repetition and lists of keywords. Answer with exactly one line: {options} or 'Winner: draw'.",
        ]
        return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]

    # ------------------------------------------------------------------ scripted speeches
    def _next_phase(self, agent: int) -> int:
        return self._phase(self.turn + 1 if agent == 0 else self.turn, agent)

    def _rebuttal_pool(self, agent: int, new: list[int]) -> list[int]:
        topic, scorer = self._require_episode()
        pool = list(scorer.points[agent]) + new
        return pool or [topic.index[p.key] for p in topic.side_points(self.sides[agent])]

    def expert_action_for(self, agent: int) -> str:
        """The expert's speech for ``agent``: two new points of its side (the topic's order, strongest first) and a
        rebuttal of each opponent point it has not answered yet (at most ``MAX_REBUTTALS_PER_TURN``)."""
        topic, scorer = self._require_episode()
        phase = self._next_phase(agent)
        credited = scorer.credited(agent)
        word = "support" if self.sides[agent] == "pro" else "oppose"
        new, sentences = [], []
        for p in topic.side_points(self.sides[agent]):
            i = topic.index[p.key]
            if i in credited:
                continue
            # A point someone else already put in these words is restated in the expert's own words.
            text = p.text if not scorer.was_said(p.text) else _RESTATEMENT.format(short=_capitalise(p.short), word=word)
            if scorer.was_said(text):
                continue
            new.append(i)
            sentences.append(text)
            if len(new) == 2:
                break
        pool = self._rebuttal_pool(agent, new)
        for j, (other, i) in enumerate(scorer.rebuttal_targets(agent, phase)[:MAX_REBUTTALS_PER_TURN]):
            own = topic.points[pool[(j + phase) % len(pool)]]
            template = _REBUTTAL_TEMPLATES[(j + phase) % len(_REBUTTAL_TEMPLATES)]
            name = "my opponent" if self.num_agents == 2 else f"agent_{other}"
            sentence = template.format(Name=_capitalise(name), opp=topic.points[i].short, own=own.short)
            sentences.append(_capitalise(sentence))
        if not sentences:  # nothing new to say: a closing summary of two of its own points
            a, b = pool[phase % len(pool)], pool[(phase + 1) % len(pool)]
            sentences.append(
                f"In sum, {topic.points[a].short} and {topic.points[b].short} are why I {word} the motion."
            )
        return " ".join(sentences)

    def scripted_action_for(self, agent: int) -> str:
        """The default opponent's speech: one new point (two with probability 0.35), in a seeded random order, and
        with probability 0.4 a rebuttal of the latest opponent point."""
        topic, scorer = self._require_episode()
        phase = self._next_phase(agent)
        # The same number of draws every time, so the dice do not depend on what the others said.
        want = 1 + (self.rng.random() < 0.35)
        rebut = self.rng.random() < 0.4
        leads = [self.rng.choice(_SCRIPTED_LEADS) for _ in range(2)]
        pick = self.rng.random()
        credited = scorer.credited(agent)
        new = [i for i in self._orders[agent] if i not in credited and not scorer.was_said(topic.points[i].text)]
        new = new[:want]
        sentences = [lead + topic.points[i].text for lead, i in zip(leads, new)]
        targets = scorer.rebuttal_targets(agent, phase)
        if targets and rebut:
            pool = self._rebuttal_pool(agent, new)
            own = topic.points[pool[int(pick * len(pool))]]
            sentences.append(_SCRIPTED_REBUTTAL.format(opp=topic.points[targets[0][1]].short, own=own.short))
        return " ".join(sentences) or "My case stands."

    def sample_action_for(self, agent: int, rng: random.Random) -> str:
        """A weak or random speech: silence, a platitude, one point, the other side's point, or a keyword soup."""
        topic, _ = self._require_episode()
        kind = rng.randrange(6)
        if kind == 0:
            return ""
        if kind == 1:
            return rng.choice(["I agree.", "No comment.", "I am not sure about this at all."])
        if kind == 2:
            return "This is an important question and there are good arguments on both sides of it."
        if kind == 3:
            return rng.choice(topic.side_points(self.sides[agent])).text
        if kind == 4:
            other = "con" if self.sides[agent] == "pro" else "pro"
            return rng.choice(topic.side_points(other)).text
        words = [w.rstrip("*") for p in topic.points for g in p.groups for w in g]
        return " ".join(rng.sample(words, min(8, len(words))))

    def expert_action(self) -> str:
        """Two new points for ``agent_0``'s side plus rebuttals of the opponents' unanswered points."""
        return self.expert_action_for(0)

    def scripted_action(self) -> str:
        """What the default scripted opponent would say in ``agent_0``'s place."""
        return self.scripted_action_for(0)

    def sample_action(self, rng: random.Random) -> str:
        """A weak or random speech for ``agent_0`` (see ``sample_action_for``)."""
        return self.sample_action_for(0, rng)


# ============================================================================================= built-in topics
# Each topic: (id, motion, motion keywords, pro points, con points). A point is "TEXT | SHORT | GROUP / GROUP ...":
# TEXT is a full argument sentence, SHORT a noun phrase naming the point (used to quote or rebut it), and each GROUP
# lists alternative words (``word*`` matches any word starting with ``word``; other words match with a plural or
# possessive ending). A sentence makes the point when it contains words of at least two different groups.
_TOPIC_DATA: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "car_free_centres",
        "City centres should be closed to private cars.",
        "car vehicle* driv* motorist* city cities centre* center* downtown",
        (
            "Closing centres to cars cuts the exhaust fumes that cause asthma and heart disease. | the exhaust fumes that damage people's health | exhaust* fume* pollut* emission* smog / asthma* health* lung* heart disease* respirat* / air",
            "Streets without traffic are far safer, so fewer pedestrians and cyclists are killed or injured. | the road deaths and injuries among pedestrians | safe* safety danger* accident* crash* / pedestrian* cyclist* walker* / kill* death* injur* die",
            "Shops in pedestrianised streets often gain trade because people linger, browse and spend more. | the extra trade that lingering shoppers bring to local shops | shop* retail* trade trader* store* / linger* brows* footfall spend* / pedestrianis* pedestrianiz* walkable",
            "Road space freed from parking can become parks, trees and cycle lanes that make the city greener. | greener streets with trees and parks instead of parking | park tree* green* garden* / parking tarmac / lane* bench* playground*",
            "Fewer cars mean less noise, so residents sleep better and streets become pleasant places to meet. | quieter streets where residents can sleep | noise noisy quiet* peace* / resident* neighbour* neighbor* / sleep* pleasant*",
        ),
        (
            "Many disabled and elderly people depend on cars and would be cut off from the centre. | the disabled and elderly people who depend on cars | disab* elderly older wheelchair* mobility / depend* rely relies / isolat* strand* exclud* cut",
            "Restaurants and small businesses lose customers who drive in from the suburbs, and some go bankrupt. | the businesses that lose customers who drive in | restaurant* business* / customer* client* / bankrupt* closure* lose lost loss* revenue*",
            "Banning cars pushes traffic onto ring roads and side streets, so congestion simply moves elsewhere. | congestion that simply moves elsewhere | congest* jam* traffic gridlock* / displac* elsewhere divert* shift* move* / ring suburb* outskirt*",
            "Public transport in most cities is too slow and unreliable to replace the car for everyone. | public transport that is too slow and unreliable | bus buses tram* train* transit transport* metro / slow* unreliab* infrequent crowded delay* / replac* alternative* substitut*",
            "Tradespeople and delivery drivers need vehicle access, and banning cars raises their costs and prices. | higher costs for deliveries and tradespeople | deliver* tradesp* courier* plumber* van / cost* price* expens* / access* load* permit*",
        ),
    ),
    (
        "school_uniforms",
        "Schools should require pupils to wear uniforms.",
        "uniform* school* pupil* student* dress* cloth* wear*",
        (
            "Uniforms hide differences in family income, so poorer pupils are less likely to be bullied about clothes. | the bullying of poorer pupils over clothes | income* poor* poverty wealth* rich* / bull* teas* mock* / differen* equal* hide*",
            "A uniform creates a sense of belonging and pride in the school community. | the pride and belonging a uniform creates | belong* / pride proud / communit* team*",
            "Uniforms save families money because one set of clothes replaces expensive designer brands. | the money families save on designer brands | money cheap* expens* afford* sav* / brand* designer* fashion* label* / famil* parent* household*",
            "Getting dressed becomes quick and simple, so mornings are calmer and pupils focus on learning. | pupils focusing on learning instead of clothes | focus* concentrat* distract* attention / learn* lesson* study / morning* quick* simpl* calm*",
            "Staff can spot intruders on trips and at the gate because uniformed pupils are easy to identify. | the safety of easily identified pupils | safe* secur* intruder* stranger* / identif* spot* recogni* / trip* gate* outing*",
        ),
        (
            "Uniforms suppress self-expression, and teenagers need to explore their identity through what they wear. | teenagers' freedom to express their identity | express* individual* creativ* freedom / identit* personalit* / teen* adolescen* young",
            "Uniform items from approved suppliers often cost far more than ordinary clothes from a supermarket. | the high price of uniforms from approved suppliers | supplier* stockist* approved / cost* price* pricey overpriced / supermarket* ordinary",
            "There is little solid evidence that uniforms improve grades or behaviour. | the lack of evidence that uniforms raise grades | evidence* research* study data proof / grade* result* attain* achiev* perform* / behav* disciplin* improve*",
            "Strict uniform rules waste teachers' time on policing ties and skirts instead of teaching. | teachers policing ties instead of teaching | teacher* staff / polic* enforc* rule* punish* detention* sanction* / tie skirt* shoe* hair*",
            "Rigid uniforms can be uncomfortable in hot weather and ignore the needs of pupils with sensory issues. | uncomfortable uniforms in hot weather | comfort* uncomfort* itch* / hot heat weather warm* summer / sensory disab* religio* gender*",
        ),
    ),
    (
        "four_day_week",
        "Companies should adopt a four-day working week.",
        "four day week* work* compan* employ* firm* job*",
        (
            "Trials found that staff produced the same output in four days because they wasted less time. | trials showing output stayed the same | trial* pilot* experiment* / output / wast* meeting*",
            "A longer weekend gives workers time to rest, which cuts burnout and sick days. | less burnout and fewer sick days | burnout burn* exhaust* tired* fatigue / sick* illness* absence* absent* / rest resting recover* weekend*",
            "Firms offering a four-day week attract and keep talented employees more easily. | attracting and keeping talented staff | recruit* attract* hire hiring / retain* retention keep* turnover quit* / talent* skilled* candidate*",
            "Fewer commuting days mean less traffic and lower carbon emissions. | lower emissions from fewer commutes | commut* travel* / carbon emission* pollut* climate / traffic congest*",
            "Parents gain an extra day for childcare and family life, which helps keep mothers in paid work. | more time for family and childcare | parent* mother* father* famil* / childcare child* caring carer* / balance* wellbeing happi*",
        ),
        (
            "Many services such as hospitals, schools and shops must run every day, so a shorter week needs more staff. | services that must run every day | hospital* school* shop* service* / every daily / staff* shortag* cover*",
            "Cramming the same hours into four days makes each day longer and more exhausting. | longer and more exhausting working days | cram* compress* squeez* / longer hours / exhaust* tired* stress* fatigu*",
            "Customers and partners expect companies to be reachable five days a week, so firms may lose business. | customers who expect firms to be reachable | customer* client* partner* / reach* availab* contact* respons* / lose lost busines* revenue* competit*",
            "Productivity gains in short trials may fade once the novelty wears off, and only volunteer firms took part. | productivity gains that fade once the novelty wears off | fade* disappear* temporar* novelty wear* / volunteer* selected / productiv* gain*",
            "Hourly and shift workers could lose pay if their hours are cut to four days. | shift workers losing pay | hourly shift* casual* / pay wage* salar* earn* / cut* reduc*",
        ),
    ),
    (
        "universal_basic_income",
        "Governments should introduce a universal basic income.",
        "universal basic income* ubi payment* cash government* welfare",
        (
            "A basic income gives everyone a safety net, so nobody falls into destitution after losing a job. | a safety net against destitution | safety net secur* / destitut* poverty poor* homeless* / job unemploy* redundan*",
            "Automation may replace many jobs, and a universal payment cushions workers through that change. | cushioning workers against automation | automat* robot* machine* ai / replac* displac* disrupt* / cushion* transition* protect* buffer*",
            "Paying everyone is simpler than means-tested benefits, which are costly to administer and full of traps. | the bureaucracy and traps of means-tested benefits | bureaucra* administ* paperwork simpl* / benefit* claimant* / trap* stigma* conditional*",
            "Unconditional money lets people retrain, care for relatives or start businesses. | the freedom to retrain or start a business | retrain* educat* skill* / carer* relative* volunteer* / entrepreneur* business* startup*",
            "Pilot schemes found that recipients kept working and reported better mental health. | pilots showing better mental health | pilot* trial* experiment* / mental wellbeing stress* anxiety / recipient* participant*",
        ),
        (
            "Paying a meaningful income to every adult would cost a fortune and require huge tax rises. | the enormous cost and tax rises | cost* expens* unaffordable fortune trillion* billion* / tax taxes taxation / deficit* borrow* debt*",
            "Free money for all may reduce the incentive to work, shrinking the workforce. | weaker incentives to work | incentive* motivat* lazy idle / workforce labour labor employment / reduc* shrink* weak*",
            "Giving the same amount to millionaires is wasteful when help could be targeted at those in need. | money wasted on people who do not need it | millionair* rich wealthy / wast* untargeted / target* need*",
            "A flat payment would push up rents and prices, eroding its real value. | inflation and rents that erode its value | inflat* price* / erod* value* worth* / rent* landlord* housing",
            "Replacing targeted benefits with one flat sum could leave disabled people worse off. | disabled people left worse off | disab* vulnerab* sick* / worse / scrap* abolish* replacing",
        ),
    ),
    (
        "nuclear_power",
        "Countries should build more nuclear power stations.",
        "nuclear reactor* power plant* station* energy electricity",
        (
            "Nuclear plants produce almost no carbon emissions, making them vital for fighting climate change. | low-carbon power against climate change | carbon emission* co2 / climat* warming / fight* vital tackl*",
            "Reactors run day and night regardless of wind or sunshine, providing steady baseload power. | steady power regardless of the weather | baseload steady reliab* constant* / wind sun* solar weather intermitt* / night regardless",
            "Per unit of energy, nuclear has caused fewer deaths than coal, oil or even hydro. | its safety record compared with coal | safe* death* died kill* record / coal oil fossil hydro",
            "A small site produces huge amounts of power, leaving land free for farms and nature. | the small land footprint of reactors | land footprint space site* / farm* nature wildlife countryside habitat* / small compact dens*",
            "Home-grown nuclear energy reduces dependence on imported gas from unstable regimes. | independence from imported gas | import* foreign / depend* independ* / gas regime* unstable",
        ),
        (
            "Spent fuel stays dangerously radioactive for thousands of years, and no country has a permanent solution. | radioactive waste with no permanent home | waste spent fuel / radioact* radiation toxic / thousand* permanent* storage* store*",
            "New reactors are notoriously expensive and years late, while renewables get cheaper every year. | the huge costs and delays of new reactors | cost* expens* overrun* billion* / delay* late years / renewabl* cheaper",
            "Accidents like Chernobyl and Fukushima show that rare failures can contaminate regions for decades. | the risk of disasters like Fukushima | accident* disaster* meltdown* chernobyl fukushima / contamin* evacuat* exclusion / rare risk* catastroph*",
            "Nuclear programmes can spread weapons technology and make plants targets for terrorists. | weapons technology falling to terrorists | weapon* bomb* prolifer* / terror* attack* target* / technolog* uranium plutonium",
            "Money spent on slow nuclear projects would cut emissions faster if invested in efficiency and insulation. | faster emission cuts from efficiency and insulation | efficien* insulat* / faster quick* slow / invest* money spent",
        ),
    ),
    (
        "social_media_under_16",
        "Social media should be banned for children under 16.",
        "social media platform* app* children child teen* kid* ban*",
        (
            "Heavy social media use is linked to rising anxiety, depression and self-harm among teenage girls. | the mental health harm to teenagers | anxiety depress* harm* suicid* / mental health wellbeing / link* rising rise research*",
            "Algorithms are designed to be addictive, and young brains are poor at resisting endless feeds. | addictive algorithms built to hook children | addict* hook* compuls* / algorithm* feed* design* / brain* impuls* resist*",
            "Children are exposed to predators, grooming and explicit content that moderators fail to remove. | exposure to predators and explicit content | predator* groom* stranger* / explicit porn* violen* content / moderat* expos* remov*",
            "Cyberbullying follows children home, so there is no escape from bullies even at bedtime. | cyberbullying with no escape at home | bully bullies bullied bullying cyberbull* harass* / escape* home bedtime / follow* constant*",
            "Scrolling late at night steals sleep, which harms concentration at school. | lost sleep and poor concentration | sleep* tired* / concentrat* focus* attention / school* grade* lesson*",
        ),
        (
            "Age bans are easy to dodge with fake birthdays, so they push children to less safe corners of the internet. | bans that are easily dodged with fake ages | dodg* evad* circumvent* bypass* fake* lie* / birthday* age / unsafe underground corner* vpn",
            "Social media helps isolated teenagers, including LGBT youth, find friends and support. | support networks for isolated teenagers | isolat* lonel* lgbt* minorit* / friend* support* communit* connect*",
            "Verifying every user's age would force people to hand over ID, creating huge privacy risks. | the privacy risks of checking IDs | privacy data surveil* / id identit* passport* document* / verif* check*",
            "Teaching digital literacy works better than bans because children must eventually learn to navigate online life. | teaching children digital literacy | educat* teach* literac* skill* / digital online internet / navigat* learn* prepar*",
            "Parents, not governments, should decide what their own children may use. | parents' right to decide | parent* famil* / decid* choice* right* / government* state nanny authorit*",
        ),
    ),
    (
        "homework_primary",
        "Homework should be abolished in primary schools.",
        "homework primary school* pupil* child* kid* abolish*",
        (
            "Research finds little academic benefit from homework for young children. | the lack of evidence that homework helps young children | research* evidence study / benefit* gain* improv* effect* help* / academ* achiev* attain* result* grade*",
            "Children need time to play, which builds creativity and social skills. | free time for play and creativity | play* playtime / creativ* imagin* social / leisure spare",
            "Homework causes stress and family arguments when tired children struggle in the evening. | stress and arguments at home over homework | stress* anxi* tears / argu* conflict* fight* row / evening* tired* famil*",
            "Homework widens inequality because some parents can help and others cannot. | the inequality of help at home | inequal* unequal* unfair* gap* advantag* / parent* tutor* help*",
            "Young children learn better after proper sleep and outdoor exercise. | sleep and outdoor exercise | sleep* rest rested / outdoor* exercis* sport* activ*",
        ),
        (
            "Regular homework builds independent study habits that pupils need at secondary school. | good homework habits for secondary school | habit* routine* disciplin* / independen* self / secondar* later future",
            "Practice at home reinforces what was taught, especially spelling and times tables. | practice that reinforces classroom learning | practi* reinforc* repetit* consolidat* / spelling times table* phonics / taught class* lesson*",
            "Homework shows parents what their child is learning and involves them in their education. | involving parents in their child's learning | parent* / involv* engag* show* inform* / learning educat* progress*",
            "Short reading tasks at home are linked to better literacy and a love of books. | the literacy gains from reading at home | read* book* / literac* vocabular* language / love enjoy*",
            "Abolishing homework often leaves children with more screen time rather than more play. | extra screen time instead of play | screen* tablet* phone* gaming tv television / instead rather replac*",
        ),
    ),
    (
        "remote_work",
        "Employers should let staff work from home by default.",
        "remote* home office* employer* staff employee* work* hybrid",
        (
            "Working from home ends long commutes, saving hours and money every week. | the time and money saved on commuting | commut* travel* / hour* time / money fare* sav*",
            "Many studies show that remote staff are as productive or more, with fewer interruptions. | higher productivity with fewer interruptions | productiv* output efficien* / interrupt* distract* quiet* / study research* evidence",
            "Flexible hours help parents and carers to balance their jobs with the duties of family life. | flexibility for parents and carers | flexib* / parent* carer* caring childcare famil* / balanc* duti*",
            "Remote hiring lets firms recruit talent anywhere and opens jobs to disabled people. | recruiting talent from anywhere | recruit* hiring talent* / anywhere region* geograph* / disab* access* inclus*",
            "Fewer commuters and smaller offices cut emissions and expensive city rents. | lower emissions and office rents | emission* carbon pollut* / rent* lease* overhead* / smaller cut* reduc*",
        ),
        (
            "Junior staff learn far more by watching experienced colleagues in person. | the learning juniors miss outside the office | junior* graduate* trainee* / learn* mentor* train* / watch* person overhear* experienc*",
            "Chance conversations at the office spark ideas that video calls rarely produce. | spontaneous ideas from chance conversations | chance spontan* casual* corridor* / idea* innovat* creativ* / video zoom call*",
            "Working alone at home leaves many people lonely and harms their mental health. | the loneliness that harms mental health | lonel* isolat* alone / mental health wellbeing",
            "Blurred boundaries mean remote staff answer emails late at night and struggle to switch off. | late-night emails that never switch off | boundar* blur* switch* / email* message* late overtime night",
            "Teams without face-to-face contact build less trust and culture, which weakens cooperation. | weaker team trust and culture | trust* cultur* bond* / team* cooperat* collaborat* / face contact meet*",
        ),
    ),
    (
        "sugar_tax",
        "Sugary drinks should be taxed.",
        "sugar* drink* soda* fizzy tax* levy",
        (
            "Sugary drinks are a major cause of obesity and type 2 diabetes. | the obesity and diabetes sugar causes | obes* overweight / diabet*",
            "Where a levy was introduced, manufacturers cut the sugar in their recipes. | makers cutting sugar from recipes | manufactur* maker* industr* brand* / recipe* reformulat* / cut* lower*",
            "The revenue can fund school sports and healthy meals for children. | revenue for school sports and meals | revenue* fund* money / school* child* / sport* meal* exercis* breakfast*",
            "Obesity costs health services billions, so a tax makes those who cause the costs contribute. | the billions that obesity costs health services | cost* billion* burden* / health service* hospital* nhs doctor* / obes*",
            "Price signals work, as tobacco taxes showed, so fewer children will buy sugary drinks. | price signals like tobacco taxes | price* expens* / tobacco cigarett* smok* alcohol / signal* behavi* nudge*",
        ),
        (
            "Sugar taxes are regressive, hitting poorer families hardest because they spend more of their income on food. | the unfair hit to poorer families | regressiv* unfair* / poor* income* / hardest hit*",
            "People simply switch to sweets, juices or untaxed snacks, so total sugar intake barely changes. | switching to untaxed sweets and snacks | switch* substitut* / sweet* snack* juice* untaxed chocolate* / intake consum* barely",
            "Adults should be free to choose what they drink without a nanny state punishing them. | freedom of choice against the nanny state | free freedom choice choos* / nanny paternal* / adult* punish*",
            "Obesity has many causes, including inactivity and diet, so targeting one product is too narrow. | the many factors beyond one product | factor* inactiv* diet* / narrow* product* single",
            "Small shops and drink makers lose sales and jobs when prices rise. | lost sales and jobs for small shops | shop* retail* / sale* job / lose lost loss*",
        ),
    ),
    (
        "voting_age_16",
        "The voting age should be lowered to 16.",
        "vot* age ages 16 sixteen lower* election* ballot*",
        (
            "Sixteen-year-olds can work, pay taxes and join the army, so they deserve a say. | paying taxes without a say | tax taxes / army military / say deserv*",
            "Voting at 16, while still at school, builds a lifelong habit of turning out. | a lifelong voting habit built at school | habit* lifelong / school* classroom* civic*",
            "Young people will live longest with decisions on climate and debt, so they should help make them. | their stake in long-term decisions | climat* debt* pension* future* / longest long term / decision* decid* stake*",
            "Scotland and Austria lowered the age and found young voters engaged seriously. | the good experience in Scotland and Austria | scotland austria brazil / engag* serious* / experien* found",
            "Politicians ignore groups that cannot vote, so teenagers' interests are neglected. | the neglect of teenagers' interests | neglect* sideline* / interest* concern* / politician* parties party",
        ),
        (
            "Sixteen-year-olds are still developing judgement and are easily swayed by peers and parents. | immature and easily swayed judgement | judg* matur* immatur* develop* / sway* influenc* peer* / parent* famil*",
            "Most sixteen-year-olds show little interest in politics, and turnout among the young is low. | low interest and turnout among the young | apath* disinterest* interest* little / turnout low",
            "The law treats under-18s as children in most areas, so the voting age should match adulthood at 18. | consistency with adulthood at 18 | 18 eighteen adult* / law legal* / consisten* match* treat*",
            "Teachers could bias pupils' politics if schools became campaign grounds. | politics entering classrooms | teacher* classroom* school* / campaign* politic* partisan* / indoctrin* bias*",
            "Most sixteen-year-olds still live with their parents and lack experience of paying bills or rent. | little experience of adult responsibilities | experien* / bill* rent* mortgage* / responsib* independen* lack*",
        ),
    ),
    (
        "space_exploration",
        "Governments should spend more on space exploration.",
        "space* nasa rocket* mars moon planet* explor* astronaut*",
        (
            "Space programmes produced technologies like satellite navigation, weather forecasting and medical imaging. | spin-off technologies like satellite navigation | technolog* inven* spin innovat* / satellit* gps navigat* weather imag* / medical medicine",
            "Watching asteroids and building deflection tools could protect Earth from a catastrophic impact. | protecting Earth from asteroid impacts | asteroid* comet* impact* / protect* defen* deflect* / earth catastroph*",
            "Landmark missions inspire children to study science and engineering. | inspiring children into science | inspir* dream* / child* young student* / science* engineer* stem",
            "Settling other worlds would give humanity a backup if disaster struck our home world. | a backup for humanity | backup insurance surviv* / humanity human* species / settl* colon* disaster*",
            "Studying other planets teaches us how climates change and how life began. | knowledge about climate and the origins of life | knowledge learn* studying / climat* atmospher* / origin* life began",
        ),
        (
            "The money would do more good fighting poverty, disease and hunger here on Earth. | poverty and disease here on Earth | poverty hunger famine / disease* health* hospital* / money billion* spend* priorit*",
            "Private companies can now launch rockets more cheaply than governments. | private companies doing it more cheaply | private compan* firm* commercial* / cheap* cost* efficien* / government* public",
            "Robotic probes gather the same science as crewed missions at a fraction of the cost and risk. | robots that explore without risking lives | robot* probe* rover* uncrewed / crew* lives / risk* danger* fraction*",
            "Rocket launches and satellites add pollution and dangerous orbital debris. | launch pollution and orbital debris | debris junk clutter* / launch* exhaust* pollut* / orbit* collision*",
            "Mars colonies are a fantasy because the planet is lethal for centuries. | the fantasy of colonising Mars | fantas* unrealist* impossib* / lethal radiat* hostile toxic / colonies colonis* coloniz* settlement*",
        ),
    ),
    (
        "abolish_zoos",
        "Zoos should be abolished.",
        "zoo* animal* captiv* cage* enclosure*",
        (
            "Wild animals kept in cages suffer stress and show repetitive pacing. | the stress and repetitive pacing of caged animals | stress* suffer* distress* / pacing repetitiv* stereotyp* / harm* unnatural",
            "Enclosures can never match the vast ranges that elephants and orcas roam in the wild. | cramped enclosures compared with vast wild ranges | vast range* roam* territor* / cramp* small tiny / elephant* whale* orca*",
            "Most zoo species are not endangered, so conservation is mostly a marketing excuse. | conservation used as a marketing excuse | endanger* threaten* rare / conserv* / market* excuse* profit*",
            "Money spent on zoos would protect far more animals if spent on habitats in the wild. | protecting wild habitats instead | habitat* reserve* wild* / protect* preserv* / money fund* spent",
            "Breeding in captivity produces animals that cannot survive if released. | captive-bred animals unable to survive release | breed* bred / releas* reintroduc* / surviv*",
        ),
        (
            "Zoo breeding programmes saved species such as the Arabian oryx and the California condor from extinction. | breeding programmes that saved species | breed* bred / extinct* saved / species oryx condor",
            "Seeing animals up close inspires children to care about nature. | inspiring children to care about nature | inspir* / child* visitor* famil* / care nature",
            "Zoo vets and scientists carry out research that helps wild populations. | research by zoo vets and scientists | research* scien* / vet veterinar* / population*",
            "Modern zoos provide large and enriched enclosures, with expert care for every animal in them. | modern enriched enclosures | modern accredit* / enrich* large spacious / expert* care*",
            "Closing zoos would leave thousands of captive animals with nowhere to go. | thousands of animals with nowhere to go | nowhere homeless / thousand* existing / close closing closure* shut*",
        ),
    ),
    (
        "regulate_ai",
        "Governments should strictly regulate advanced artificial intelligence.",
        "ai artificial intelligence regulat* govern* law* model*",
        (
            "Powerful AI systems can spread disinformation at scale and undermine elections. | AI-driven disinformation in elections | disinform* misinform* fake propaganda deepfake* / election* democra* vot* / scale spread*",
            "Biased algorithms already deny people loans and jobs without explanation. | biased algorithms deciding loans and jobs | bias* discriminat* unfair* / loan* job* hiring credit / explan* transparen* accountab*",
            "Companies racing for profit will cut safety corners unless rules force them to test. | the race that cuts safety corners | race* racing profit* / safety safe test* / corner*",
            "Aviation and medicine show that strict safety rules make industries trustworthy. | how rules made aviation and medicine trusted | aviation airline* medicin* drug* pharma* / trust* confiden* / rule* standard* certif*",
            "Advanced AI could help design weapons or cyberattacks, so access must be controlled. | controlling access to AI that can design weapons | weapon* bioweapon* cyber* hack* / control* licen* access* / misuse danger*",
        ),
        (
            "Heavy regulation would slow innovation and hand leadership to less careful countries. | innovation slowed by heavy rules | innovat* progress* / slow* stifl* hinder* / countr* china leader* abroad",
            "Only big tech firms can afford compliance costs, so strict rules would crush startups. | compliance costs that crush startups | complian* paperwork bureaucra* / startup* small / incumbent* giant* big",
            "Technology moves too fast for lawmakers, so rules would be out of date before they pass. | legislation that is out of date on arrival | fast pace rapid* / outdat* date obsolet* / lawmaker* legislat* politician*",
            "Existing laws on fraud, discrimination and privacy already cover most harms. | existing laws that already cover the harms | existing current already / fraud privacy consumer / cover* apply* handle*",
            "AI brings huge benefits in medicine and science that delay would deny patients. | medical benefits that delay would deny | benefit* cure* breakthrough* / patient* diagnos* / delay* deny* wait*",
        ),
    ),
    (
        "free_university",
        "University tuition should be free.",
        "universit* tuition fee* college* degree* higher education free",
        (
            "Tuition fees deter bright students from poor backgrounds who fear debt. | poorer students deterred by fees and debt | poor* disadvantag* working / deter* fear* afraid / debt* loan*",
            "Graduates pay more tax over their lives, so the state recovers the cost. | the taxes graduates later repay | tax taxes / recover* repay* invest*",
            "An educated workforce drives innovation and economic growth for everyone. | economic growth from a skilled workforce | econom* growth prosper* / workforce skill* talent* / innovat* research*",
            "Huge student debts delay buying homes and starting families. | debt that delays homes and families | debt* loan* / home* house* mortgage* / famil* marriage* delay*",
            "Many countries such as Germany offer free tuition successfully. | countries like Germany that do it well | germany finland norway countr* / success* well",
        ),
        (
            "Free tuition is paid by all taxpayers, including those who never go to university. | taxpayers who never attend paying the bill | taxpayer* / never attend* / bill fair* unfair*",
            "Graduates earn much more on average, so they should contribute to the cost. | graduates' higher earnings | graduat* / earn* salar* wage* / contribut* share",
            "Without fee income, universities face cuts and larger classes. | funding cuts and larger classes | funding fund* income* budget* / cut* shortfall* / class* quality lecturer* staff*",
            "Free places get rationed, and wealthy students win them anyway, as seen in some countries. | rationed places captured by the wealthy | ration* cap* limit* places / wealth* rich* privileg*",
            "Apprenticeships and vocational routes deserve funding as much as degrees. | neglected apprenticeships and vocational routes | apprentic* vocation* technical trade* / deserv* neglect* / route* path*",
        ),
    ),
    (
        "compulsory_voting",
        "Voting should be compulsory.",
        "vot* compulsory mandatory election* ballot* turnout oblig*",
        (
            "Compulsory voting makes results reflect the whole population, not just motivated groups. | results reflecting the whole population | whole everyone entire / popul* citizen* electorat* / reflect* represent* legitima*",
            "Australia has kept turnout above ninety percent for decades with modest fines. | Australia's high turnout with small fines | australia belgium / fine* penalt* / decade* ninety percent",
            "When everyone votes, politicians must court the poor and young, not only the elderly. | politicians courting every group | politician* parties party candidat* / court* appeal* attent* / poor* young* elderly older",
            "Voting is a civic duty, like jury service or paying taxes. | the civic duty to vote, like jury service | duty duties civic / jury tax* / responsib*",
            "High turnout reduces the power of extreme and polarising campaigns that rely on energised bases. | less power for extreme and fringe campaigns | extrem* polar* radical* / base* fringe* energis* energiz*",
        ),
        (
            "Forcing people to vote violates their freedom, including the freedom to abstain. | the freedom to abstain | freedom liberty right* / abstain* abstention / forc* coerc* violat*",
            "Compelled voters who know little cast random votes that add noise to results. | uninformed voters casting random votes | uninform* ignoran* know* / random* careless* / noise distort*",
            "Fining non-voters hits the poor hardest and criminalises the disengaged. | punishing the poor hardest | fining criminal* punish* / hardest hit* / disengag* alienat*",
            "Low turnout sends politicians a useful signal that voters are unhappy. | low turnout as a useful signal | signal* message* protest* / unhappy dissatisf* disillus* / low",
            "Compulsion treats the symptom; parties should earn votes by inspiring people. | parties earning votes instead of using compulsion | earn* inspir* persuad* / symptom* / compulsion forc*",
        ),
    ),
    (
        "tax_meat",
        "Governments should tax meat.",
        "meat beef pork chicken tax* levy",
        (
            "Livestock farming produces around a seventh of global greenhouse gas emissions. | the greenhouse emissions from livestock | greenhouse emission* methane carbon climat* / livestock cattle cow* farming",
            "Grazing and feed crops drive deforestation in the Amazon and destroy habitats. | deforestation and habitat loss | deforest* forest* amazon / habitat* biodivers* wildlife / graz* feed crop* soy*",
            "Diets high in red and processed meat raise the risk of heart disease and cancer. | the health risks of red and processed meat | red processed / heart cancer* disease* / risk* health*",
            "Meat is cheap only because its environmental damage is not priced in. | the hidden environmental cost | cheap price* cost* / environment* damag* pollut* / hidden externalit* true",
            "The revenue could subsidise fruit and vegetables and support farmers to switch. | subsidies for vegetables and farmers | revenue* subsid* / fruit* vegetabl* plant* / farmer* switch* transition*",
        ),
        (
            "A meat tax hits low-income families hardest, as food is a bigger share of their budget. | the burden on low-income families | poor* income* / famil* household* / budget* share hardest burden*",
            "Farmers and rural communities depend on livestock for their livelihoods. | the livelihoods of farmers and rural communities | rural communit* / livelihood* depend* job*",
            "Governments should not dictate what people eat; diet is a personal choice. | personal choice over diet | personal choice choos* freedom / dictat* nanny / diet* eat*",
            "Meat is a dense source of protein, iron and vitamin B12 that some people struggle to replace. | protein and iron that are hard to replace | protein iron vitamin* nutri* / source dense / replac* struggl*",
            "Taxing domestic meat just shifts production abroad to countries with weaker standards. | production shifting abroad | abroad import* overseas foreign / shift* move* leak* / standard* weaker",
        ),
    ),
    (
        "ban_single_use_plastic",
        "Single-use plastics should be banned.",
        "plastic* single use disposable ban*",
        (
            "Millions of tonnes of plastic enter the oceans each year, choking turtles and seabirds. | ocean plastic choking wildlife | ocean* sea marine / turtle* seabird* wildlife whale* fish / chok* entangl* kill*",
            "Plastics break into microplastics that now turn up in drinking water and human blood. | microplastics in water and blood | microplastic* particle* / water blood body / fragment* break*",
            "Most plastic is never recycled, so recycling cannot solve the problem. | plastic that is rarely recycled | recycl* / never rarely fraction* / landfill* incinerat* burn*",
            "Bans work, because bag bans cut litter quickly where they were introduced. | proven results of bag bans | bag* / litter* / work* proven result*",
            "Reusable alternatives like bottles and cups already exist and are cheap. | cheap reusable alternatives | reusab* refill* alternativ* / bottle* cup* container* / cheap* exist*",
        ),
        (
            "Some disabled people rely on plastic straws and cannot easily use substitutes. | disabled people who need straws | disab* / straw* / rely relies need* substitut*",
            "Plastic packaging keeps food fresh longer and reduces food waste. | packaging that cuts food waste | packag* wrap* / fresh* shelf / food waste spoil*",
            "Paper and cotton carriers can have a larger carbon footprint unless reused many times. | the bigger footprint of paper and cotton | paper cotton glass / footprint carbon emission* / reused reuse",
            "Medical equipment such as syringes must be sterile and single-use. | sterile medical equipment | medic* hospital* syringe* / steril* hygien* / equip* glove*",
            "Most ocean plastic comes from a few rivers in Asia, so national bans elsewhere change little. | ocean plastic that comes from rivers elsewhere | river* asia* / national elsewhere",
        ),
    ),
    (
        "cashless_society",
        "Societies should phase out cash.",
        "cash cashless coin* banknote* note* money payment*",
        (
            "Cash makes tax evasion and money laundering easy because it leaves no record. | tax evasion and laundering hidden by cash | evasi* evad* launder* / tax crim* / record* trace* anonym*",
            "Digital payments are faster and cheaper for shops than counting and banking notes. | faster, cheaper digital payments | digital card* contactless electron* / fast* quick* cheap* / shop* business* retail*",
            "Without cash there is nothing for robbers to steal from shops, taxis and homes. | less theft from taxis and homes | rob* theft thief* steal* mug* / taxi* home* nothing",
            "Printing, transporting and guarding cash costs economies billions each year. | the costs of printing and guarding cash | print* transport* guard* / cost* billion* / econom*",
            "Electronic money lets governments deliver aid and benefits to people instantly, even in a crisis. | instant aid and benefit payments | aid benefit* welfare / instant* immediat* direct* / deliver* transfer* send*",
        ),
        (
            "Millions of elderly and poor people have no bank account or smartphone. | people without bank accounts | elderly older poor* vulnerab* / bank account* smartphone* / exclud* without",
            "A cashless system lets banks and governments track every purchase. | surveillance of every purchase | surveil* track* monitor* privacy / purchas* transaction* spending / government*",
            "Power cuts, outages and cyberattacks can freeze electronic systems, while cash always works. | outages that freeze payment systems | outage* power cut* failure* cyber* hack* / freez* crash* / always resilien* backup",
            "Cash helps people budget because they can see exactly what they have left. | the physical cash that helps people budget | budget* overspend* debt* / see physical tangible",
            "Processing fees flow to payment companies, draining money from small traders. | processing fees paid by small traders | fee* charge* commission* / processor* compan* visa mastercard / trader* draining",
        ),
    ),
    (
        "scrap_standardised_tests",
        "Standardised tests should be scrapped in schools.",
        "test* exam* standardi* school* assess*",
        (
            "High-stakes tests push teachers to teach to the test and narrow the curriculum. | teaching to the test and a narrowed curriculum | teach teaching taught / curricul* narrow* / stake* pressure*",
            "Exam pressure causes anxiety and sleeplessness in children as young as seven. | the anxiety that exam pressure causes | anxi* stress* sleep* / pressur* / young seven child*",
            "Scores largely reflect family income and tutoring rather than ability. | scores that reflect wealth rather than ability | income* wealth* tutor* privileg* / abilit* talent* potential / reflect*",
            "A single test day is a snapshot that ignores illness, nerves and bad luck. | a one-day snapshot distorted by nerves and luck | snapshot single / ill illness nerve* luck*",
            "Teacher assessment and coursework capture skills that timed tests miss. | coursework that captures wider skills | coursework portfolio* project* / skill* creativ* teamwork / captur* wider timed",
        ),
        (
            "Standardised tests give an objective common measure that is hard to bias. | an objective, common measure | objectiv* impartial* / common same consistent* / measur*",
            "Without tests, struggling pupils and failing schools go unnoticed. | spotting struggling pupils and failing schools | struggl* failing weak* / unnotic* identif* spot*",
            "Teacher grades are prone to bias, as inflated grades during the pandemic showed. | biased and inflated teacher grades | inflat* bias* / pandemic covid / grade* mark*",
            "Parents and governments need comparable results to hold schools accountable. | holding schools accountable with comparable results | accountab* / compar* / parent* government* inspector*",
            "Learning to prepare for and cope with exams builds resilience needed in later life. | the resilience needed in later life | resilien* cope coping / prepar* revis* / later life adult*",
        ),
    ),
    (
        "free_public_transport",
        "Public transport should be free to use.",
        "public transport* bus buses train* tram* metro fare* free",
        (
            "Free fares tempt drivers out of their cars, cutting congestion and emissions. | fewer cars, less congestion and emissions | car driver* / congest* traffic / emission* pollut* carbon",
            "Fares take the biggest bite from low-income workers, so free transport helps them most. | helping low-income workers most | poor* income* / worker* job* / help* bite*",
            "Collecting fares is costly, because ticket machines, gates and inspectors eat much of the revenue. | the cost of collecting fares | ticket* gate* inspector* machine* / collect* / revenue* cost*",
            "Luxembourg and Tallinn made transport free and saw ridership rise. | rising ridership in Tallinn and Luxembourg | luxembourg tallinn estonia / rider* ridership passenger* usage",
            "Free travel reconnects isolated elderly and young people to jobs, friends and services. | reconnecting isolated people | isolat* lonel* / elderly older / reconnect* connect*",
        ),
        (
            "Someone must pay, and free transport shifts billions onto taxpayers, including those who never ride. | the bill passed on to taxpayers | taxpayer* tax taxes / billion* bill / never ride*",
            "Losing fare revenue leaves less money to maintain lines and add services. | less money for maintenance and services | maintain* maintenance repair* / service* line* route* frequen* / revenue* money",
            "Free services get overcrowded, as people who used to walk or cycle switch to the bus. | overcrowding from walkers and cyclists switching | overcrowd* crowd* / walk* cycl* bike* / switch*",
            "Studies show that price matters less to motorists than speed and convenience. | speed and convenience mattering more than price | speed* fast* conveni* reliab* / price* / motorist* studies study",
            "Targeted discounts for students and pensioners help those in need at a fraction of the cost. | targeted discounts for students and pensioners | target* discount* concession* / student* pension* / fraction",
        ),
    ),
    (
        "video_games_good",
        "Video games do more good than harm for young people.",
        "video game* gaming gamer* console*",
        (
            "Action games improve reaction times, spatial awareness and problem solving. | better reactions and problem solving | reaction* reflex* / spatial awareness / problem* solv* strateg*",
            "Online games let young people make friends and cooperate in teams. | friendships and teamwork online | friend* social* / team* cooperat* collaborat* / online multiplayer",
            "Large studies have found no link between games and real-world violence. | no proven link to violence | violen* aggress* / link* evidence studies study",
            "Games are a creative outlet, and many players go on to learn coding and design. | creativity and coding skills | creativ* art* / coding programm* / outlet skill*",
            "Relaxing with a game helps many teenagers cope with stress. | relief from stress | relax* unwind* relief / stress* anxi* cope coping",
        ),
        (
            "Some young people become addicted, gaming for hours and neglecting school and sleep. | gaming addiction that crowds out school and sleep | addict* compuls* / neglect* / sleep* school* homework",
            "Loot boxes expose children to gambling mechanics and drain their money. | loot boxes and gambling | loot box* / gambl* bet* / money drain*",
            "Hours of gaming replace physical activity and contribute to obesity. | lost exercise and obesity | physical* exercis* sport* / obes* weight / sedentar* inactiv*",
            "Online chat exposes young players to toxic abuse and predators. | toxic abuse and predators in chat | toxic* abus* harass* / predator* groom* stranger* / chat",
            "Games are built around rewards that make it hard to stop, eroding attention spans. | reward loops that erode attention | reward* loop* / attention focus* concentrat* / stop erod*",
        ),
    ),
    (
        "ban_animal_testing",
        "Animal testing should be banned.",
        "animal* test* testing experiment* lab laborator* research*",
        (
            "Animals feel pain and fear, and confining them for experiments causes great suffering. | the pain of animals confined in cages | pain suffer* fear* distress* / confin* cage* / cruel* welfare",
            "Most drugs that pass animal tests fail in human trials, so the results translate poorly. | poor translation from animals to humans | fail* failure* / human* trial* / translat* predict* poorly",
            "Organ-on-a-chip systems, cell cultures and computer models can replace many animal tests. | modern alternatives like organ chips | organ* chip* cell* tissue* / computer* model* simulat* / replac* alternativ*",
            "Cosmetics testing on animals is unnecessary and already banned in the EU. | unnecessary cosmetics testing | cosmetic* beauty makeup / unnecessar* trivial / eu europe* banned",
            "Animals have a right not to be used as mere tools for human benefit. | the right of animals not to be mere tools | right* / tool* mere",
        ),
        (
            "Nearly every major medicine, from insulin to vaccines, was developed with animal research. | medicines developed through animal research | medicin* insulin vaccin* treatment* / develop* discover*",
            "Regulators require safety tests on whole living systems before drugs reach people. | safety tests on whole living systems | safety safe toxic* / whole living system* organism* / regulator* require*",
            "Alternatives cannot yet show how a whole body handles a drug. | the limits of current alternatives | alternativ* / body immune / limit* incomplete*",
            "A ban would push research to countries with weaker welfare rules. | research moving to countries with weaker rules | countr* abroad overseas / weaker lax / push* relocat*",
            "Strict rules already require researchers to replace, reduce and refine animal use. | strict rules that reduce animal use | strict* rule* regulat* / reduc* refin*",
        ),
    ),
    (
        "raise_minimum_wage",
        "The minimum wage should be raised substantially.",
        "minimum wage* pay salar* rais* hourly",
        (
            "Many full-time workers on the minimum wage still cannot afford rent and food. | full-time workers who cannot afford rent | afford* / rent* food bill* / full worker* employee*",
            "Higher pay is spent locally, boosting demand for businesses. | spending that boosts local demand | spend* spent / demand* local* / boost*",
            "Better-paid staff stay longer, which cuts turnover and training costs. | lower turnover and training costs | turnover retent* stay* quit* / train* / cost*",
            "Raising wages reduces reliance on in-work benefits funded by taxpayers. | less reliance on taxpayer-funded benefits | benefit* welfare subsid* / taxpayer* / relian* rely",
            "Studies of past increases found little or no loss of jobs. | little evidence of job losses | studies study evidence research* / job employment / loss* lost",
        ),
        (
            "A steep rise could price unskilled workers out of jobs as firms automate or hire fewer people. | fewer hires of unskilled workers | skill* unskill* entry / hire hiring employ* / automat* fewer",
            "Small businesses on thin margins may close or cut hours. | small firms forced to close or cut hours | small busines* firm* shop* / margin* profit* / close closing closure* hours",
            "Higher labour costs get passed on as higher prices, eroding the gains. | price rises that erode the gains | price* inflat* / pass* erod* / labour labor",
            "One national rate ignores the big differences in living costs between regions. | one national rate ignoring regional differences | region* area* / national single / differen*",
            "Tax credits target poor households better than wage rules. | targeted tax credits | credit* / target* / household* famil* poor*",
        ),
    ),
    (
        "cap_tourist_numbers",
        "Popular cities should cap tourist numbers.",
        "touris* visitor* city cities cap* limit* overtourism",
        (
            "Short-term holiday lets push up rents and drive residents out of historic centres. | holiday lets driving out residents | rent* housing / resident* local* / holiday let lets airbnb",
            "Crowds damage fragile monuments and wear out historic streets. | damage to fragile monuments | monument* heritage historic* / damag* wear* erod* / fragil* crowd*",
            "Overcrowding makes daily life miserable for locals, with packed buses and noise. | daily misery for locals | overcrowd* packed / noise* miser* / daily bus buses",
            "Cruise ships and mass tourism add pollution and waste. | pollution and waste from mass tourism | cruise* ship* / pollut* waste litter* / mass",
            "A cap spreads visitors to other places and seasons, sharing the benefits. | spreading visitors across places and seasons | spread* share* sharing / season* place* / benefit*",
        ),
        (
            "Tourism supports millions of jobs in hotels, restaurants and shops. | the jobs tourism supports | job employ* / hotel* restaurant* shop* / support* million*",
            "Caps make travel a luxury for the rich by pushing up prices. | travel becoming a luxury for the rich | luxur* rich* wealth* elit* / price* expens* / travel*",
            "Better management, like timed entry and tourist taxes, works without hard caps. | smarter management like timed entry | manag* / timed entry booking* / tax taxes",
            "Visitor spending funds the restoration of the very monuments people come to see. | spending that funds monument restoration | fund* spending revenue* / restor* maint* preserv*",
            "Limiting visitors is hard to enforce and would hurt relations with neighbouring regions. | the difficulty of enforcing caps | enforc* polic* / hard difficult* impractic* / border* neighbour* region*",
        ),
    ),
    (
        "embrace_gm_crops",
        "Genetically modified crops should be embraced.",
        "genetic* modif* gm gmo* crop* biotech* engineer*",
        (
            "GM crops can raise yields, helping feed a growing world population. | higher yields to feed the world | yield* harvest* / feed food hunger / population growing world",
            "Pest-resistant varieties let farmers spray far fewer pesticides. | fewer pesticides sprayed | pesticid* insecticid* chemical* / pest insects / fewer less reduc*",
            "Golden rice and similar crops add vitamins that prevent childhood blindness. | golden rice that prevents childhood blindness | vitamin* nutri* golden rice / blind* deficien* malnutri* / child*",
            "Drought-tolerant varieties protect harvests as the climate warms. | drought-tolerant crops for a warming climate | drought* heat* / climat* warm* / protect*",
            "Decades of research and major scientific bodies find approved GM foods safe to eat. | the scientific consensus on safety | scienti* research* consensus / safe* / decade* approv*",
        ),
        (
            "A few corporations patent seeds and make farmers buy them every season. | corporate patents on seeds | patent* corporat* monopol* compan* / seed* / farmer* season*",
            "Herbicide-tolerant crops encouraged heavy spraying and superweeds. | herbicide overuse and superweeds | herbicid* glyphosate spray* / superweed* weed* / heavy overuse",
            "Genes can spread to wild relatives and organic fields, with unknown ecological effects. | genes spreading into the wild | gene genes pollen / spread* cross* contamin* / wild* organic ecolog* unknown",
            "Monocultures of a few engineered varieties reduce biodiversity. | lost biodiversity from monocultures | monocultur* uniform* / biodivers* diversit*",
            "Hunger is caused by poverty and distribution, not a lack of crop technology. | hunger caused by poverty and distribution | poverty distribut* / hunger famine / technolog* lack cause*",
        ),
    ),
    (
        "later_school_start",
        "Secondary schools should start later in the morning.",
        "school* start* later morning* teen* pupil* student*",
        (
            "Teenagers' body clocks shift later, so early starts leave them chronically sleep-deprived. | teenage body clocks and sleep loss | clock* circadian biolog* / sleep* tired* / shift* chronic*",
            "Trials of later starts saw better attendance and exam results. | better attendance and results in trials | attendan* absence* / result* grade* exam* / trial* studies study",
            "Well-rested pupils concentrate better and are in a better mood. | better concentration and mood | concentrat* focus* attention / mood* behav* / rested",
            "Drowsy teenage drivers cause fewer crashes when school starts later. | fewer crashes by drowsy teen drivers | crash* accident* / drows* / driver* driving",
            "Too little rest in adolescence is linked to depression and poor mental health. | the mental health risks of too little rest | depress* mental anxi* / health* / link* adolescen*",
        ),
        (
            "Later finishes clash with after-school jobs, sports and clubs. | clashes with after-school activities | clash* conflict* / job sport* club* activit* / finish* afternoon* evening*",
            "Parents who work early would struggle to drop children off. | parents who must drop children off early | parent* famil* / drop* childcare",
            "Bus fleets are scheduled around staggered start times, so changes cost money. | bus schedules and extra costs | bus buses transport* / schedul* timetabl* staggered / cost* money expens*",
            "Teenagers may simply stay up later, cancelling out the benefit. | later bedtimes that cancel out the benefit | stay* bed bedtime / cancel* offset*",
            "Later classes mean pupils travel home in the dark in winter. | travelling home in the dark | dark* daylight* / winter* / travel* walk* home",
        ),
    ),
    (
        "abolish_daylight_saving",
        "Daylight saving time should be abolished.",
        "daylight saving* clock* time summer winter hour*",
        (
            "Changing the clocks disrupts sleep, and heart attacks rise after the spring shift. | disrupted sleep and heart attacks after the clock change | sleep* disrupt* / heart attack* stroke* health* / spring",
            "Road accidents increase in the days after the clocks change. | the spike in road accidents | accident* crash* collision* / road* traffic driver* / spike* increas*",
            "Energy savings from daylight saving are tiny or non-existent in modern homes. | negligible energy savings | energy electric* / tiny negligible existent / modern lighting",
            "Double switching confuses schedules, computer systems and international meetings. | confusion in schedules and systems | confus* chaos / schedul* timetabl* meeting* / computer* system* software",
            "A permanent standard time fits human body clocks best. | permanent time that matches body clocks | permanent fixed / body biolog* circadian / standard natural",
        ),
        (
            "Lighter evenings let people exercise, shop and socialise after work. | lighter evenings for leisure | evening* lighter / exercis* leisure sport* shop* / socialis* socializ*",
            "Extra evening light reduces crime and road deaths at the busiest time. | less crime and fewer evening deaths | crime* / death* / busiest rush peak",
            "Tourism, hospitality and outdoor businesses gain from long summer evenings. | tourism and outdoor businesses | touris* hospitalit* outdoor* / busines* / gain* boost*",
            "Countries cannot agree which time to keep, so abolition would create a patchwork of zones. | a patchwork of zones across Europe | patchwork zone* / agree* / countr* neighbour* europe*",
            "Permanent winter time would mean dark afternoons, while permanent summer time would mean pitch-black mornings. | dark mornings or dark afternoons | dark* black / morning* afternoon*",
        ),
    ),
    (
        "ban_petrol_cars_2030",
        "Sales of new petrol and diesel cars should be banned by 2030.",
        "petrol diesel car* vehicle* sale* 2030 ban*",
        (
            "Road transport is a large source of carbon emissions, and new cars last fifteen years. | cutting carbon from road transport | carbon emission* climat* / road transport* / fifteen lifetime",
            "A firm deadline gives carmakers certainty to invest in electric models. | certainty for carmakers to invest | deadline* certain* / carmaker* manufactur* industr* / invest*",
            "Exhaust fumes cause tens of thousands of early deaths in cities. | deaths from exhaust fumes | exhaust* fume* pollut* / death* die / cities city urban",
            "Electric cars are already cheaper to run and prices are falling fast. | cheaper electric cars | cheap* cost* price* / electric* ev / fall* run*",
            "Leading on clean cars can create new jobs in battery factories. | new jobs in battery factories | job employ* / battery batteries factor* gigafactor* / lead* clean",
        ),
        (
            "Charging networks are too patchy, especially for people without driveways. | patchy charging networks | charg* / patchy network* infrastructur* / driveway* flat* rural",
            "Battery cars still demand a higher upfront purchase, so a ban hits low-income drivers. | high upfront purchase prices for low earners | upfront purchas* / income* poor* afford* earner*",
            "Mining lithium and cobalt for batteries damages ecosystems and communities. | the damage from battery mining | mining mine* lithium cobalt / damag* ecosystem* / communit*",
            "Grids may not cope if millions of cars charge at once. | grids unable to cope | grid* electricit* / cope overload* strain* / million*",
            "Hybrids and cleaner fuels could cut emissions without an outright ban. | hybrids and cleaner fuels | hybrid* / fuel* synthetic biofuel* / outright flexib*",
        ),
    ),
    (
        "compulsory_coding",
        "Coding should be a compulsory school subject.",
        "coding code program* computer* school* compulsory subject* curriculum",
        (
            "Software skills are in high demand, so coding opens well-paid careers. | well-paid careers in software | career* job salar* paid / demand* shortage* / software tech*",
            "Coding teaches logical thinking and problem solving useful in every field. | logical thinking and problem solving | logic* reason* / problem* solv* / thinking",
            "Making it compulsory gives girls and poorer pupils access they might not get at home. | fair access for girls and poorer pupils | girl* women gender / poor* disadvantag* / access* equal*",
            "Citizens need to understand the algorithms that shape news, loans and jobs. | understanding the algorithms that shape our lives | algorithm* / understand* literac* / citizen* democra*",
            "Early exposure builds confidence, since students who try coding young stick with it. | confidence from early exposure | confiden* / early young / stick* continu* persist*",
        ),
        (
            "Schools lack qualified computing teachers, so rushed lessons would be poor. | the lack of qualified teachers | teacher* staff / qualif* trained expert* / lack*",
            "The timetable is already full, so coding would squeeze out arts, languages or sport. | squeezing out arts and languages | art arts music* language* sport* / squeez* crowd* displac* / timetable* full",
            "AI tools are automating routine code, so specific languages will quickly go out of date. | routine coding that AI will soon automate | ai automat* / outdat* date obsolet* / routine",
            "Not every child wants to be a programmer, and interests should guide optional subjects. | choices guided by pupils' interests | interest* passion* / choice option* elective*",
            "Digital literacy, like spotting scams and protecting privacy, matters more than syntax. | practical digital literacy over syntax | digital / scam* privacy safety / syntax",
        ),
    ),
    (
        "stop_hosting_olympics",
        "Cities should stop bidding to host the Olympic Games.",
        "olympic* games host* bid* city cities",
        (
            "Host cities routinely overspend, with costs running billions over budget. | cost overruns of billions | overspen* overrun* budget* / billion* cost* / debt*",
            "Stadiums built for the games often sit empty afterwards. | empty white elephant stadiums | stadium* venue* arena* / empty unused abandon* elephant* / afterward*",
            "Poor residents are evicted to clear land for venues. | evictions of poor residents | evict* displac* / resident* / poor* land",
            "The promised tourism boost rarely appears, as regular tourists stay away. | the tourism boost that never appears | touris* visitor* / boost* / rarely never away",
            "The money could build housing, schools and hospitals that last. | better uses of the money like housing | housing home* school* hospital* / money fund* public / build* invest*",
        ),
        (
            "The games speed up long-needed transport and regeneration projects. | faster transport and regeneration | transport* rail* metro / regenerat* redevelop* renew* / speed* faster accelerat*",
            "Hosting raises a city's global profile and attracts investment. | a higher global profile and investment | profile* reputation* prestig* / global world* international / investment* attract*",
            "Major events inspire young people to take up sport. | inspiring young people into sport | inspir* / sport* athlet* / young* children youth",
            "Reforms now let cities reuse existing facilities and share costs. | cheaper games reusing existing facilities | reus* existing temporar* / facilit* / reform* share*",
            "A shared goal unites residents and builds civic pride. | civic pride and unity | pride proud / unit* togeth* / civic nation*",
        ),
    ),
    (
        "ban_phones_in_schools",
        "Smartphones should be banned in schools.",
        "phone* smartphone* mobile* school* classroom* ban*",
        (
            "Phones distract pupils, and notifications break concentration during lessons. | notifications that break concentration in lessons | distract* notif* / concentrat* focus* attention / lesson* class*",
            "Schools that banned phones saw better test scores, especially for weaker pupils. | better test scores after bans | score* result* grade* / test* exam* / weaker struggl*",
            "Without phones, pupils talk and play at break instead of staring at screens. | more face-to-face play at break | talk* play* / break lunch* / screen* stare* staring",
            "A ban stops cyberbullying and the filming of fights on school grounds. | less cyberbullying and filming | cyberbull* bully bullying / film* video* photo* / fight*",
            "Removing phones eases the social pressure of constant online comparison. | less social pressure and comparison | pressur* anxi* / comparison compar* / online constant*",
        ),
        (
            "Parents want to reach their children in an emergency. | reaching children in emergencies | emergenc* safety safe / parent* / reach* contact*",
            "Phones are useful learning tools for research, calculators and translation. | phones as learning tools for translation | tool* learning research* / calculat* translat* dictionar* / useful",
            "Teaching responsible use prepares pupils better than a blanket ban. | teaching responsible use | responsib* / teach* educat* / blanket prepar*",
            "Bans are hard to enforce and turn teachers into phone police. | the burden of enforcing bans | enforc* police polic* confiscat* / teacher* staff / hard burden*",
            "Pupils with medical conditions or caring duties rely on their phones. | pupils who need phones for medical reasons | medical diabet* condition* / carer* caring / rely relies need*",
        ),
    ),
    (
        "rent_control",
        "Cities should introduce rent control.",
        "rent* tenant* landlord* housing control* cap*",
        (
            "Rent caps protect tenants from sudden rises that force families out of their neighbourhoods. | sudden rises that force families out | sudden spike* rise* / force* evict* displac* / famil* neighbourhood* neighborhood* communit*",
            "Stable rents let workers such as nurses and teachers afford to live near their jobs. | keeping key workers near their jobs | nurse* teacher* worker* / afford* / near job",
            "Housing is a necessity, not a luxury, so it should not be priced like one. | housing as a necessity, not a luxury | necess* basic human / luxur* / priced commodit* market*",
            "Predictable rents let households plan, save and build stable lives. | predictable rents that let households plan | predictab* / plan* save* saving* / household* lives",
            "Landlords profit from shortages they did not create, so caps share the burden. | landlords profiting from shortages | profit* windfall* / shortage* scarcit* / burden* share*",
        ),
        (
            "Rent control reduces supply, because developers stop putting up new flats when their returns are capped. | developers building fewer homes for rent | suppl* / developer* construct* building / stop reduc* fewer",
            "Landlords skimp on repairs when rents are capped, so quality falls. | deteriorating quality and repairs | repair* maint* / quality condition* deteriorat* / skimp* neglect*",
            "Cheap rent-controlled flats go to lucky insiders, often not the poorest. | lucky insiders rather than the poorest | lucky insider* connected / poorest / lottery* queue*",
            "Tenants stay put in flats that no longer suit them, freezing mobility. | frozen mobility and mismatched flats | mobil* immobil* / mismatch* suit* / freez* frozen",
            "Building more homes is the real fix, because caps treat only the symptom. | building more homes as the real fix | homes / symptom* fix*",
        ),
    ),
)


def _builtin_topics() -> dict[str, Topic]:
    topics = {}
    for topic_id, motion, keywords, pro, con in _TOPIC_DATA:
        topics[topic_id] = parse_topic(
            {"id": topic_id, "motion": motion, "keywords": keywords, "pro": list(pro), "con": list(con)}
        )
    return topics


#: The built-in topics by id.
BUILTIN_TOPICS: dict[str, Topic] = _builtin_topics()


def list_topics() -> list[str]:
    """Ids of the built-in topics."""
    return list(BUILTIN_TOPICS)


register_env("debate", DebateEnv)
