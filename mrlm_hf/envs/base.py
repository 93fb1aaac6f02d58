"""The text-environment API: gymnasium semantics over strings.

An environment turns a task into a conversation. ``reset`` returns the first observation (the task), ``step``
takes the agent's action (a string) and returns the next observation, a reward and whether the episode ended.
``terminated`` means the task is over (solved or failed for good); ``truncated`` means the turn limit cut it
short. Observations are rendered as non-assistant chat turns; ``system_prompt`` (optional) opens the chat.

Subclasses implement ``_reset`` and ``_step``; this base class owns the bookkeeping every environment needs
(seeding, turn counting, truncation, coercing and capping hostile actions), so that a malformed action is
always an observation with a reward and never an exception.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any

#: Actions longer than this (characters) are cut before an environment sees them.
MAX_ACTION_CHARS = 20_000


class TextEnv(ABC):
    """Base class of all text environments.

    Class attributes a subclass sets:
        name: registry name (``make_env(name)``).
        system_prompt: text of the system turn, or ``None``.
        stop_strings: strings that end an action when a model generates it (besides end of turn).
        concurrent_steps: whether ``collect_trajectories`` may step this instance on a thread while other
            instances step (true unless instances share mutable state, e.g. one model opponent).

    Instance state available to subclasses: ``self.rng`` (a ``random.Random`` seeded by ``reset``),
    ``self.turn`` (actions taken in this episode), ``self.max_turns``.
    """

    name: str = "base"
    system_prompt: str | None = None
    stop_strings: tuple[str, ...] = ()
    concurrent_steps: bool = True

    def __init__(self, max_turns: int = 4) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.max_turns = max_turns
        self.rng = random.Random()
        self.turn = 0
        self.done = True
        self._seed: int | None = None

    # ------------------------------------------------------------------ public API
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode. The same ``seed`` gives the same task; distinct seeds give distinct random streams.

        ``seed`` is ``None`` (a fresh random task) or an int in the int64 range of the trajectory schema's ``seed``
        column; anything else is refused (see ``seed_material``)."""
        self._seed = check_seed(seed)
        self.rng = random.Random(seed_material(self._seed))
        self.turn = 0
        self.done = False
        obs, info = self._reset(options or {})
        info.setdefault("turn", 0)
        return obs, info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` and return ``(observation, reward, terminated, truncated, info)``."""
        if self.done:
            raise RuntimeError(f"{type(self).__name__}.step() called on a finished episode; call reset() first.")
        action = coerce_action(action)
        self.turn += 1
        obs, reward, terminated, info = self._step(action)
        truncated = not terminated and self.turn >= self.max_turns
        self.done = terminated or truncated
        info.setdefault("turn", self.turn)
        info.setdefault("success", False)
        return obs, float(reward), bool(terminated), bool(truncated), info

    @abstractmethod
    def expert_action(self) -> str:
        """The scripted expert's action in the current state (a demonstration source that needs no model)."""

    def sample_action(self, rng: random.Random) -> str:
        """A baseline action drawn from ``rng``: what a random policy would say. Override for a better baseline."""
        return rng.choice(["", "I don't know.", str(rng.randint(-100, 100))])

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments that recreate this environment (stored with every trajectory)."""
        return {"max_turns": self.max_turns}

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Draw a task with ``self.rng`` and return the first observation and an info dict."""

    @abstractmethod
    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        """Return ``(observation, reward, terminated, info)``; truncation is handled by the base class."""


#: Seeds are stored in an int64 column (``TRAJECTORY_FEATURES["seed"]``): the range every seed must lie in.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` as an int (``None`` stays ``None``), or refuse one that cannot name a task reproducibly.

    Accepted: ``None`` and integers (``int``, NumPy integers) in the int64 range. Refused: ``bool``, floats,
    strings and integers outside int64, which a trajectory's ``seed`` column could not store."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not hasattr(type(seed), "__index__"):
        raise TypeError(
            f"seed must be an int (or None for a random task), got {type(seed).__name__} {seed!r}; "
            "pass int(seed) if it is a whole number."
        )
    seed = int(seed.__index__())
    if not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(
            f"seed must be in the int64 range [{SEED_MIN}, {SEED_MAX}] (the dataset's seed column), got {seed}."
        )
    return seed


def seed_material(seed: int | None) -> int | None:
    """What seeds ``random.Random`` for ``reset(seed)``: the seed itself when it is >= 0 (so existing datasets keep
    their tasks), and ``2**64 - seed`` when it is negative. ``random.Random`` seeds with ``abs(seed)``, so
    ``Random(-1)`` equals ``Random(1)``; the mapped value lies above every int64 seed, so distinct seeds stay distinct."""
    if seed is None or seed >= 0:
        return seed
    return 2**64 - seed


def coerce_action(action: Any) -> str:
    """Turn whatever a policy produced into a bounded, decodable string."""
    if action is None:
        return ""
    if isinstance(action, bytes):
        action = action.decode("utf-8", errors="replace")
    elif not isinstance(action, str):
        action = str(action)
    if len(action) > MAX_ACTION_CHARS:
        action = action[:MAX_ACTION_CHARS]
    # Lone surrogates cannot be encoded by tokenizers or Arrow; replace them.
    return action.encode("utf-8", errors="replace").decode("utf-8")


def check_task_dataset(dataset: Any, required_columns: tuple[str, ...]) -> None:
    """Validate a user task dataset (a ``datasets.Dataset`` or a sequence of row dicts) before an environment uses it.

    A string is refused with a hint: a stored ``config`` records an in-memory dataset only as a marker."""
    if isinstance(dataset, str):
        raise TypeError(
            f"dataset must be a datasets.Dataset (or a sequence of rows), got the string {dataset!r}; "
            "a config's '<in-memory>' marker means the dataset has to be passed again."
        )
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    columns = getattr(dataset, "column_names", None)
    if columns is not None:
        missing = [c for c in required_columns if c not in columns]
        if missing:
            raise ValueError(f"dataset has no column(s) {missing}; columns are {columns}")
