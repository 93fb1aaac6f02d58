"""How the ``debate`` environment reads and judges speeches: topics and their point matcher, the rule judge
(``DebateScorer``, ``rule_verdict``) and the model judge's verdict parser (``parse_judge_verdict``).

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
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mrlm_hf.envs.base import coerce_action

__all__ = [
    "CHAR_CAP",
    "JUDGE_SYSTEM_PROMPT",
    "SIDES",
    "DebateScorer",
    "Point",
    "Topic",
    "cut_speech",
    "parse_judge_verdict",
    "parse_topic",
    "rule_verdict",
    "split_sentences",
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

SIDES = ("pro", "con")

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
