"""Hindsight relabeling for gridworld: a failed episode is a successful one for the goal it reached.

``hindsight_relabel`` takes gridworld trajectories that did not reach their goal, replays each one (seed plus
actions, ``mrlm_hf.preferences.replay``) to find where the agent ended, moves the goal ``G`` there in the initial
layout, cuts the actions at the agent's first arrival on that cell, and plays them again in a gridworld started
from the relabeled layout (``reset(seed, options={"state": ...})``). The environment itself renders the new
observations, pays the rewards and reports success, so every returned row is a valid successful demonstration by
the environment's own check (one that the environment does not confirm raises).

Rows that cannot be relabeled are skipped: successful ones (nothing to relabel), and failed ones whose agent never
left its start cell or ended on the key's or the door's cell. The ``seed`` column alone no longer restores a
relabeled task (the layout is the seed's with the goal moved): ``metadata`` holds ``hindsight`` with the initial
state (``GridState.to_dict``), the original goal and the source row, and ``reset(seed, options={"state": ...})``
with that state replays it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from datasets import Dataset

from mrlm_hf.data import trajectories_from_rows, validate_trajectories
from mrlm_hf.envs.gridworld import GridWorldEnv
from mrlm_hf.preferences import replay


def hindsight_relabel(trajectories: Dataset) -> Dataset:
    """Relabeled successful trajectories for the failed gridworld rows of ``trajectories`` (module docstring).

    Raises ``ValueError`` naming the row for a row of another environment."""
    validate_trajectories(trajectories)
    rows = []
    for index, row in enumerate(trajectories):
        if row["env_name"] != "gridworld":
            raise ValueError(
                f"Trajectory row {index}: column 'env_name' is {row['env_name']!r}; hindsight relabeling needs "
                "gridworld rows (filter the dataset by env_name first)."
            )
        if row["success"]:
            continue
        relabeled = _relabel(row, index)
        if relabeled is not None:
            rows.append(relabeled)
    return trajectories_from_rows(rows)


def _relabel(row: dict[str, Any], index: int) -> dict[str, Any] | None:
    env = GridWorldEnv(**json.loads(row["env_kwargs"] or "{}"))
    actions = row["actions"][: len(row["observations"]) - 1]
    env.reset(seed=row["seed"])
    start = env.state
    _, _, infos, _ = replay(env, row["seed"], actions)
    positions = [start.agent, *(tuple(info["position"]) for info in infos)]
    end = positions[-1]
    if end == start.agent or end in (start.key, start.door) or end == start.goal:
        return None
    relabeled = replace(start, goal=end)
    cut = positions.index(end)  # first arrival: the move that reaches the new goal ends the episode
    observation, _ = env.reset(seed=row["seed"], options={"state": relabeled.to_dict()})
    observations, rewards, step_infos = [observation], [], []
    terminated = truncated = False
    step_info: dict[str, Any] = {}
    for action in actions[:cut]:
        observation, reward, terminated, truncated, step_info = env.step(action)
        observations.append(observation)
        rewards.append(reward)
        step_infos.append(json.dumps(step_info, default=str))
    if not (terminated and step_info.get("success")):
        raise RuntimeError(
            f"Trajectory row {index}: the relabeled episode did not end at its new goal {list(end)} in the "
            "environment; the row's actions do not replay as recorded."
        )
    metadata = json.loads(row["metadata"] or "{}")
    metadata["hindsight"] = {
        "initial_state": relabeled.to_dict(),
        "original_goal": list(start.goal),
        "source_row": index,
    }
    return {
        **{k: row[k] for k in ("env_name", "env_kwargs", "seed", "agent_id", "role", "system_prompt")},
        "observations": observations,
        "actions": list(actions[:cut]),
        "rewards": rewards,
        "infos": step_infos,
        "terminated": terminated,
        "truncated": truncated,
        "success": True,
        "metadata": json.dumps(metadata, default=str),
    }
