"""Early-experience branch data: what happens when the agent does something other than the expert.

A world model trained only on expert transitions never sees a bump into a wall or a step back, so it predicts
poorly what a learning agent's actions do. ``collect_branches`` fixes the data, after "Agent Learning via Early
Experience" (2025): at states on given trajectories (usually expert demonstrations) it samples ``k`` alternative
actions from a policy (the model being trained, or ``RandomPolicy``), executes each one in the real environment
from that exact state, and stores each branch ``(history, alternative action, next observation, reward)`` as a
transition row (``mrlm_hf.data.TRANSITION_FEATURES``), so ``TrajectorySFTTrainer(mode="world_model")`` trains on
it directly, alone or concatenated with ``to_transitions(demonstrations)``.

**Restoring a state.** A state is restored by replaying the trajectory's seed and action prefix
(``mrlm_hf.preferences.replay``), and the replayed observations are checked against the stored ones: a mismatch
raises, so a non-deterministic environment is refused rather than branched from the wrong state. Per environment:

* ``gridworld``: deterministic (the layout comes from the seed, ``transition`` is a pure function).
* ``math``: deterministic (the problem comes from the seed; grading is exact arithmetic).
* ``tools``: deterministic (the task comes from the seed; tools are pure functions of the task's data).
* ``code``: deterministic given the seed and the code as long as no test run is near the sandbox's time limit; a
  program that sometimes times out gives a different observation, which the replay check reports.
* ``debate`` with scripted opponents: deterministic (the opponents draw from the episode's seeded generator, in
  the order of the steps); with a model opponent only if that model decodes greedily.

Only the state's own agent is branched (``agent_id`` of the reset info): rows of other agents of a multi-agent
episode are skipped. The ``return`` column of a branch row holds that step's reward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from datasets import Dataset

from mrlm_hf.chat import Message, trajectory_messages
from mrlm_hf.data import TRANSITION_FEATURES, validate_trajectories
from mrlm_hf.envs import TextEnv, coerce_action, make_env
from mrlm_hf.policies import Policy
from mrlm_hf.preferences import replay


def restore_state(env: TextEnv, seed: int, observations: Sequence[str], actions: Sequence[str]) -> None:
    """Bring ``env`` to the state after ``actions`` of the episode ``seed`` and check it against ``observations``.

    ``observations`` are the stored ``o_0 .. o_k`` (``len(actions) + 1`` of them). Raises ``RuntimeError`` naming the
    first observation that differs (the environment is not deterministic given its seed and actions) and
    ``ValueError`` if the episode ended before the state."""
    replayed, *_ = replay(env, seed, actions)
    if env.done:
        raise ValueError(f"Replaying seed {seed}: the episode is over after {len(actions)} actions; nothing to branch.")
    if list(replayed) != list(observations):
        step = next(i for i, (a, b) in enumerate(zip(replayed, observations)) if a != b)
        raise RuntimeError(
            f"Replaying seed {seed} with the stored actions gave a different observation {step}: the environment "
            f"{env.name!r} is not deterministic given its seed and actions, so its states cannot be restored."
        )


def collect_branches(
    trajectories: Dataset,
    policy: Policy,
    k: int = 3,
    *,
    steps: Sequence[int] | None = None,
    distinct: bool = True,
    batch_states: int = 64,
    depth: int = 1,
) -> Dataset:
    """Branch transitions at every state of ``trajectories`` (or at the numbers of actions ``steps``).

    For each state, ``policy`` is asked ``k`` times (one batched call per ``batch_states`` states; a sampling
    policy gives different actions); with ``distinct`` an alternative equal to the action the trajectory took, or
    to an earlier alternative, is dropped (its transition is already known). Each kept alternative is executed in
    its own replay of the state (one environment instance per branch, pooled across chunks). With ``depth`` > 1
    each branch goes on for up to ``depth`` steps in all: after the alternative, ``policy`` acts from the branch's
    own states until the episode ends, in one batched call per level over the chunk's branches still running (at
    most ``depth`` calls per chunk, so a model policy generates in batches), and every step is a row whose history
    is the trajectory's prefix plus the branch so far. A world model scored on the policy's own episodes then also
    trains on what follows its actions (e.g. a state reached by bumping into a wall), not only on the actions
    themselves. Rows are ordered by state, then alternative, then level. A policy whose action depends only on its
    conversation and environment gives the same rows as one call per branch and step would; a policy drawing from
    a shared generator (``RandomPolicy``) draws in the batched order. Returns a transition dataset
    (``TRANSITION_FEATURES``), validated."""
    if k < 1:
        raise ValueError(f"k must be >= 1 alternative action per state, got {k}.")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(
            f"depth must be an int >= 1 (steps per branch, the alternative action included), got {depth!r}."
        )
    validate_trajectories(trajectories)
    wanted = None if steps is None else set(steps)
    states = []  # (row index, step)
    columns = ["env_name", "env_kwargs", "seed", "agent_id", "system_prompt", "observations", "actions"]
    rows = trajectories.select_columns(columns)
    for index, row in enumerate(rows):
        for step in range(min(len(row["actions"]), len(row["observations"]) - 1)):
            if wanted is None or step in wanted:
                states.append((index, step))
    out: dict[str, list] = {name: [] for name in TRANSITION_FEATURES}
    envs: dict[tuple[str, str], list[TextEnv]] = {}
    for start in range(0, len(states), batch_states):
        used: dict[tuple[str, str], int] = {}  # instances of each pool taken in this chunk
        restored, conversations, owners = [], [], []
        for index, step in states[start : start + batch_states]:
            row = rows[index]
            env = _instance(envs, used, row, index)
            _, reset_info = env.reset(seed=row["seed"])
            if str(reset_info.get("agent_id", "agent_0")) != row["agent_id"]:
                continue  # another agent's view of a multi-agent episode
            restore_state(env, row["seed"], row["observations"][: step + 1], row["actions"][:step])
            _take(used, row)
            restored.append((row, index, env, step))
            history = trajectory_messages(row["system_prompt"], row["observations"][: step + 1], row["actions"][:step])
            conversations.extend([history] * k)
            owners.extend([env] * k)
        actions = _act(policy, conversations, owners)
        branches: list[_Branch] = []  # by state, then alternative
        for j, (row, index, env, step) in enumerate(restored):
            seen = {row["actions"][step].strip()} if distinct else set()
            fresh = True  # the state's own instance is at the state and takes its first branch
            for action in actions[j * k : (j + 1) * k]:
                if distinct and action.strip() in seen:
                    continue
                seen.add(action.strip())
                if not fresh:
                    env = _instance(envs, used, row, index)
                    replay(env, row["seed"], row["actions"][:step])
                    _take(used, row)
                fresh = False
                branches.append(_Branch(row, env, row["observations"][: step + 1], row["actions"][:step], action))
        live = branches
        for level in range(depth):
            if level:  # the branches go on: the policy acts from each branch's own state
                live = [branch for branch in live if not branch.env.done]
                if not live:
                    break
                moves = _act(
                    policy,
                    [trajectory_messages(b.row["system_prompt"], b.observations, b.past) for b in live],
                    [b.env for b in live],
                )
                for branch, move in zip(live, moves):
                    branch.move = move
            for branch in live:
                branch.step()
        for branch in branches:
            for values in branch.rows:
                for name, value in values.items():
                    out[name].append(value)
    dataset = Dataset.from_dict(out, features=TRANSITION_FEATURES)
    validate_trajectories(dataset)
    return dataset


class _Branch:
    """One branch: its own environment instance at the branch's state, the history so far, the move to take next
    and the rows taken (emitted after the chunk, so rows stay ordered by state, alternative, level)."""

    def __init__(self, row: dict[str, Any], env: TextEnv, observations: list[str], past: list[str], move: str) -> None:
        self.row, self.env, self.observations, self.past, self.move = row, env, observations, past, move
        self.rows: list[dict[str, Any]] = []

    def step(self) -> None:
        observation, reward, terminated, truncated, _ = self.env.step(self.move)
        self.rows.append(
            _row(self.row, self.observations, self.past, self.move, observation, reward, terminated, truncated)
        )
        self.observations, self.past = [*self.observations, observation], [*self.past, self.move]


def _act(policy: Policy, conversations: list[list[Message]], envs: list[TextEnv]) -> list[str]:
    """One batched policy call, its actions coerced to strings (no call for no conversation)."""
    actions = policy(conversations, envs) if conversations else []
    if len(actions) != len(conversations):
        raise ValueError(f"The policy returned {len(actions)} actions for {len(conversations)} conversations.")
    return [coerce_action(a) for a in actions]


def _instance(
    envs: dict[tuple[str, str], list[TextEnv]], used: dict[tuple[str, str], int], row: dict[str, Any], index: int
) -> TextEnv:
    """The next instance of ``row``'s environment not yet taken in this chunk (built when its pool runs short)."""
    key = (row["env_name"], row["env_kwargs"])
    pool = envs.setdefault(key, [])
    if used.get(key, 0) == len(pool):
        pool.append(_make(row, index))
    return pool[used.get(key, 0)]


def _take(used: dict[tuple[str, str], int], row: dict[str, Any]) -> None:
    """Mark the instance ``_instance`` gave for ``row`` as taken for the rest of the chunk."""
    key = (row["env_name"], row["env_kwargs"])
    used[key] = used.get(key, 0) + 1


def _make(row: dict[str, Any], index: int) -> TextEnv:
    try:
        return make_env(row["env_name"], **json.loads(row["env_kwargs"] or "{}"))
    except Exception as exc:
        raise ValueError(
            f"Trajectory row {index}: cannot rebuild environment {row['env_name']!r} from column 'env_kwargs' "
            f"{row['env_kwargs']!r} ({exc}); branch data needs trajectories collected with collect_trajectories."
        ) from exc


def _row(
    row: dict[str, Any],
    observations: list[str],
    actions: list[str],
    action: str,
    observation: str,
    reward: float,
    terminated: bool,
    truncated: bool,
) -> dict[str, Any]:
    return {
        "env_name": row["env_name"],
        "seed": row["seed"],
        "agent_id": row["agent_id"],
        "step": len(actions),
        "system_prompt": row["system_prompt"],
        "observations": observations,
        "actions": actions,
        "action": action,
        "next_observation": observation,
        "reward": reward,
        "done": terminated or truncated,
        "terminated": terminated,
        "truncated": truncated,
        "return": reward,
    }
