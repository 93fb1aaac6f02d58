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

    Instance state available to subclasses: ``self.rng`` (a ``random.Random`` seeded by ``reset``),
    ``self.turn`` (actions taken in this episode), ``self.max_turns``.
    """

    name: str = "base"
    system_prompt: str | None = None
    stop_strings: tuple[str, ...] = ()

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
        """Start an episode. The same ``seed`` gives the same task."""
        self._seed = seed
        self.rng = random.Random(seed)
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
