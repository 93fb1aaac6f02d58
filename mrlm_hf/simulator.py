"""A learned simulator: a trained world model behind the text-environment API.

``WorldModelEnv`` starts each episode from the real environment's first observation (``reset(seed)`` calls the
real environment's ``reset``), then never touches the real environment again: ``step(action)`` asks a
*predictor* for the next observation, and reads reward, termination and success from that predicted text with the
real environment's outcome rule (``mrlm_hf.outcomes``; gridworld parses its status line, others get the
documented default). Turn counting and truncation at ``max_turns`` are the base class's, as in every environment.

A predictor is any callable ``predictor(conversations) -> list[str]``: each conversation is the chat so far
ending with the action (an assistant turn), and the answer is the next observation. ``ModelPredictor`` wraps a
``transformers`` world model (greedy decoding of the observation turn, prompted exactly as
``mrlm_hf.evaluation.evaluate_world_model`` scores it). ``WorldModelEnv.step_batch`` steps many simulated
environments with one batched predictor call; ``collect_trajectories`` also works (one predictor call per
environment and step, the environments stepped one after another: ``concurrent_steps`` is off because they share
one model).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mrlm_hf.chat import Message, check_history, recent_messages, trajectory_messages
from mrlm_hf.envs import TextEnv, coerce_action, make_env
from mrlm_hf.evaluation import _generate_observations
from mrlm_hf.outcomes import Outcome, outcome_rule
from mrlm_hf.policies import TransformersPolicy


class Predictor(Protocol):
    """Next observations for conversations that end with an action."""

    def __call__(self, conversations: list[list[Message]]) -> list[str]: ...


class ModelPredictor:
    """A ``transformers`` world model as a predictor: greedy generation of the next observation turn.

    Generation goes through ``TransformersPolicy``: ``decoder="static"`` is the fast GPU path of policy rollouts
    (``StaticDecoder``), so a simulated step costs what a policy step costs. ``calls`` counts the conversations
    predicted so far (the cost measure planners report). ``history`` keeps only the last observations of each
    conversation (``mrlm_hf.chat.recent_messages``): pass the ``history`` the model was trained with
    (``mrlm_hf.data.truncate_history``)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_new_tokens: int = 64,
        batch_size: int = 64,
        decoder: str = "generate",
        max_cache_len: int = 2048,
        history: int | None = None,
    ) -> None:
        check_history(history)
        self.history = history
        self.generator = TransformersPolicy(
            model,
            tokenizer,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            batch_size=batch_size,
            decoder=decoder,
            max_cache_len=max_cache_len,
        )
        self.calls = 0

    def __call__(self, conversations: list[list[Message]]) -> list[str]:
        self.calls += len(conversations)
        if not conversations:
            return []
        conversations = [recent_messages(c, self.history) for c in conversations]
        return [text.strip() for text in _generate_observations(self.generator, conversations)]


class WorldModelEnv(TextEnv):
    """The real environment's first observation, then the predictor's observations (module docstring).

    ``env`` is a registry name (built with ``env_kwargs``) or an environment instance; ``max_turns`` defaults to
    the real environment's; ``outcome`` overrides the rule that reads reward and termination from observations."""

    concurrent_steps = False

    def __init__(
        self,
        env: str | TextEnv,
        predictor: Predictor,
        *,
        env_kwargs: dict[str, Any] | None = None,
        max_turns: int | None = None,
        outcome: Callable[[str, dict[str, Any]], Outcome] | None = None,
    ) -> None:
        self.real = make_env(env, **(env_kwargs or {})) if isinstance(env, str) else env
        super().__init__(max_turns=self.real.max_turns if max_turns is None else max_turns)
        self.predictor = predictor
        self.outcome = outcome or outcome_rule(self.real.name)
        self.name = f"world_model({self.real.name})"
        self.system_prompt = self.real.system_prompt
        self.stop_strings = self.real.stop_strings
        self.observations: list[str] = []
        self.actions: list[str] = []
        self._prediction: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        return {"env_name": self.real.name, "env_config": self.real.config, "max_turns": self.max_turns}

    def messages_after(self, action: str) -> list[Message]:
        """The chat so far followed by ``action``: what the predictor continues."""
        return trajectory_messages(self.system_prompt, self.observations, [*self.actions, coerce_action(action)])

    @staticmethod
    def step_batch(
        envs: Sequence[WorldModelEnv], actions: Sequence[Any]
    ) -> list[tuple[str, float, bool, bool, dict[str, Any]]]:
        """Step every environment of ``envs`` with one predictor call (all must share the first one's predictor)."""
        if len(envs) != len(actions):
            raise ValueError(f"step_batch got {len(envs)} environments and {len(actions)} actions.")
        if not envs:
            return []
        predictor = envs[0].predictor
        if any(env.predictor is not predictor for env in envs):
            raise ValueError("step_batch needs environments that share one predictor (one batched model call).")
        for env in envs:
            if env.done:
                raise RuntimeError("WorldModelEnv.step_batch() got a finished episode; call reset() first.")
        predictions = predictor([env.messages_after(a) for env, a in zip(envs, actions)])
        results = []
        for env, action, prediction in zip(envs, actions, predictions):
            env._prediction = prediction
            results.append(env.step(action))
        return results

    def expert_action(self) -> str:
        raise NotImplementedError("A learned simulator has no scripted expert: its state is only predicted text.")

    def sample_action(self, rng: random.Random) -> str:
        """The real environment's random action."""
        return self.real.sample_action(rng)

    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        observation, info = self.real.reset(seed=self._seed, options=options or None)
        self.observations, self.actions = [observation], []
        return observation, {**info, "simulated": True}

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self._prediction is None:
            (self._prediction,) = self.predictor([self.messages_after(action)])
        observation, self._prediction = self._prediction, None
        self.actions.append(action)
        self.observations.append(observation)
        reward, terminated, success = self.outcome(observation, self.real.config)
        return observation, reward, terminated, {"success": success, "simulated": True}
