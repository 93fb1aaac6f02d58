"""Lookahead planning with a world model: imagine each candidate action's consequences, act with the best.

``LookaheadPolicy`` is a policy (``policy(conversations, envs) -> actions``). For each conversation it takes
candidate actions (``k`` samples from a proposal policy, duplicates removed, or a fixed list such as gridworld's
four moves), asks the predictor (``mrlm_hf.simulator``) for each candidate's next observation, and, with
``depth > 1``, keeps imagining: the proposal policy picks the next action in the imagined chat and the predictor
answers, until ``depth`` steps or a predicted termination. A candidate's score is the sum of the predicted rewards
(read with the environment's outcome rule) plus ``value(last predicted observation)`` (e.g. minus the distance to
the goal in the predicted grid, ``gridworld_value``) unless the imagined episode terminated. The best score wins;
ties go to the earlier candidate (the proposal's order).

Cost: ``predictor_calls`` and ``proposal_calls`` count predicted observations and proposed actions;
``calls_per_action()`` divides their sum by the actions taken. Depth 1 with ``k`` candidates costs ``k``
predictor calls per action (plus ``k`` proposals when candidates are sampled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mrlm_hf.chat import ACTION_ROLE, Message
from mrlm_hf.envs import TextEnv
from mrlm_hf.outcomes import Outcome, default_outcome, gridworld_distance
from mrlm_hf.policies import Policy
from mrlm_hf.simulator import Predictor

#: What an unreadable or hopeless predicted grid is worth to ``gridworld_value``.
UNREADABLE_VALUE = -1000.0


def gridworld_value(observation: str) -> float:
    """Minus the number of moves from the predicted grid to its goal; ``UNREADABLE_VALUE`` if it cannot be read."""
    distance = gridworld_distance(observation)
    return UNREADABLE_VALUE if distance is None else -distance


class LookaheadPolicy:
    """Candidates scored by imagined outcomes (module docstring). Give ``candidates`` (fixed actions) or
    ``proposal`` (a sampling policy asked ``k`` times per conversation); ``proposal`` also acts beyond depth 1."""

    name = "lookahead"

    def __init__(
        self,
        predictor: Predictor,
        *,
        proposal: Policy | None = None,
        candidates: Sequence[str] | None = None,
        k: int = 4,
        depth: int = 1,
        outcome: Callable[[str, dict[str, Any]], Outcome] = default_outcome,
        value: Callable[[str], float] | None = None,
        env_config: dict[str, Any] | None = None,
    ) -> None:
        if proposal is None and not candidates:
            raise ValueError("LookaheadPolicy needs `candidates` (fixed actions) or a `proposal` policy to sample.")
        if depth < 1 or k < 1:
            raise ValueError(f"depth and k must be >= 1, got depth={depth}, k={k}.")
        if depth > 1 and proposal is None:
            raise ValueError("depth > 1 needs a `proposal` policy to choose the imagined later actions.")
        self.predictor, self.proposal = predictor, proposal
        self.candidates = list(candidates) if candidates else None
        self.k, self.depth = k, depth
        self.outcome, self.value, self.env_config = outcome, value, env_config or {}
        self.predictor_calls = self.proposal_calls = self.actions_taken = 0

    def calls_per_action(self) -> float:
        """Model calls (predicted observations plus proposed actions) per action taken so far."""
        return (self.predictor_calls + self.proposal_calls) / max(1, self.actions_taken)

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]:
        envs = list(envs) if envs is not None else [None] * len(conversations)
        options = self._candidates(conversations, envs)
        flat = [(i, a) for i, actions in enumerate(options) for a in actions]
        scores = self.score(
            [[*conversations[i], {"role": ACTION_ROLE, "content": a}] for i, a in flat], [envs[i] for i, _ in flat]
        )
        best: dict[int, tuple[float, str]] = {}
        for (i, action), score in zip(flat, scores):
            if i not in best or score > best[i][0]:
                best[i] = (score, action)
        self.actions_taken += len(conversations)
        return [best[i][1] for i in range(len(conversations))]

    def _candidates(self, conversations: list[list[Message]], envs: list[Any]) -> list[list[str]]:
        if self.candidates is not None:
            return [list(self.candidates) for _ in conversations]
        asked = [c for c in conversations for _ in range(self.k)]
        sampled = self.proposal(asked, [e for e in envs for _ in range(self.k)])
        self.proposal_calls += len(asked)
        return [list(dict.fromkeys(sampled[i * self.k : (i + 1) * self.k])) for i in range(len(conversations))]

    def score(self, imagined: list[list[Message]], envs: list[Any]) -> list[float]:
        """Scores of chats that end with a candidate action: imagined rewards over ``depth`` steps plus the value
        of the last imagined observation (when the imagined episode has not terminated)."""
        totals = [0.0] * len(imagined)
        running = list(range(len(imagined)))
        chats = [list(c) for c in imagined]
        last = [""] * len(imagined)
        for step in range(self.depth):
            if step:  # the proposal acts in the imagined chat
                actions = self.proposal([chats[i] for i in running], [envs[i] for i in running])
                self.proposal_calls += len(running)
                for i, action in zip(running, actions):
                    chats[i].append({"role": ACTION_ROLE, "content": action})
            predicted = self.predictor([chats[i] for i in running])
            self.predictor_calls += len(running)
            still = []
            for i, observation in zip(running, predicted):
                reward, terminated, _ = self.outcome(observation, self.env_config)
                totals[i] += reward
                chats[i].append({"role": "user", "content": observation})
                last[i] = observation
                if not terminated:
                    still.append(i)
            running = still
            if not running:
                break
        for i in running:  # not terminated within depth: add the value of where it stands
            if self.value is not None:
                totals[i] += self.value(last[i])
        return totals
