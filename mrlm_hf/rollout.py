"""The rollout builder: run a policy in many environments in lockstep and return a trajectory ``Dataset``.

``num_envs`` environment instances step together; each step makes one batched policy call over every running
episode, and a finished episode's slot immediately starts the next one, so the batch stays full. Episode ``i`` is
reset with ``seed + i``: the same seeds give the same dataset (with a deterministic policy). With ``shard_dir``,
finished trajectories are written as parquet shards as they complete, and a rerun with the same arguments skips
the episodes already on disk, so an interrupted collection loses at most the episodes in flight.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset
from tqdm.auto import tqdm

from mrlm_hf.chat import trajectory_messages
from mrlm_hf.data import TRAJECTORY_FEATURES, trajectories_from_rows
from mrlm_hf.envs import TextEnv, coerce_action, make_env
from mrlm_hf.policies import Policy

EnvSpec = str | Callable[[], TextEnv]


class _Episode:
    """The running state of one episode in a slot."""

    def __init__(self, index: int, seed: int, env: TextEnv) -> None:
        self.index, self.seed, self.env = index, seed, env
        observation, info = env.reset(seed=seed)
        self.reset_info = info
        self.observations, self.actions, self.rewards, self.infos = [observation], [], [], []
        self.terminated = self.truncated = False

    def messages(self) -> list[dict[str, str]]:
        return trajectory_messages(self.env.system_prompt, self.observations, self.actions)

    def step(self, action: str) -> bool:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(coerce_action(action))
        self.observations.append(observation)
        self.rewards.append(reward)
        self.infos.append(info)
        self.terminated, self.truncated = terminated, truncated
        return terminated or truncated

    def rows(self, env_name: str, policy_name: str, extra_metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """The learning agent's trajectory, plus one per other agent for multi-agent environments."""
        final_info = self.infos[-1] if self.infos else {}
        metadata = {
            "policy": policy_name,
            "episode": self.index,
            "task_id": self.reset_info.get("task_id"),
            "collected_at": time.time(),
            **extra_metadata,
        }
        base = {
            "env_name": env_name,
            "env_kwargs": json.dumps(self.env.config, sort_keys=True, default=str),
            "seed": self.seed,
            "system_prompt": self.env.system_prompt or "",
            "metadata": json.dumps(metadata, default=str),
        }
        rows = [
            {
                **base,
                "agent_id": str(self.reset_info.get("agent_id", "agent_0")),
                "role": str(self.reset_info.get("role", "agent")),
                "observations": self.observations,
                "actions": self.actions,
                "rewards": self.rewards,
                "infos": [json.dumps(_without(info, "agent_trajectories"), default=str) for info in self.infos],
                "terminated": self.terminated,
                "truncated": self.truncated,
                "success": bool(final_info.get("success", False)),
            }
        ]
        for other in final_info.get("agent_trajectories", []):
            rows.append(
                {
                    **base,
                    "agent_id": str(other["agent_id"]),
                    "role": str(other.get("role", "agent")),
                    "system_prompt": other.get("system_prompt") or "",
                    "observations": list(other["observations"]),
                    "actions": list(other["actions"]),
                    "rewards": [float(r) for r in other["rewards"]],
                    "infos": ["{}"] * len(other["actions"]),
                    "terminated": self.terminated,
                    "truncated": self.truncated,
                    "success": bool(other.get("success", False)),
                }
            )
        return rows


def _without(info: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != key}


def collect_trajectories(
    env: EnvSpec,
    policy: Policy,
    num_episodes: int,
    *,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    num_envs: int = 32,
    shard_dir: str | os.PathLike | None = None,
    shard_size: int = 256,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Dataset:
    """Run ``num_episodes`` episodes (seeds ``seed .. seed + num_episodes - 1``) and return their trajectories.

    ``env`` is a registry name (built with ``env_kwargs``) or a zero-argument factory. ``policy`` is any
    ``mrlm_hf.policies.Policy``. Rows are ordered by episode (and agent, for multi-agent environments)."""
    if num_episodes < 0:
        raise ValueError(f"num_episodes must be >= 0, got {num_episodes}.")
    factory = (lambda: make_env(env, **(env_kwargs or {}))) if isinstance(env, str) else env
    probe = factory()
    env_name = env if isinstance(env, str) else probe.name
    policy_name = getattr(policy, "name", type(policy).__name__)
    shards = _ShardWriter(shard_dir, shard_size) if shard_dir is not None else None
    done_episodes = shards.completed_episodes(seed, num_episodes) if shards else set()
    pending = [i for i in range(num_episodes) if i not in done_episodes]

    envs = [probe] + [factory() for _ in range(min(num_envs, len(pending)) - 1)]
    rows: list[dict[str, Any]] = []
    queue = iter(pending)
    slots: list[_Episode | None] = []
    for instance in envs[: len(pending)]:
        index = next(queue)
        slots.append(_Episode(index, seed + index, instance))

    bar = tqdm(total=num_episodes, initial=len(done_episodes), desc=f"Rollouts ({env_name})", disable=not progress)
    steps = 0
    try:
        while any(slot is not None for slot in slots):
            active = [i for i, slot in enumerate(slots) if slot is not None]
            episodes = [slots[i] for i in active]
            actions = policy([e.messages() for e in episodes], [e.env for e in episodes])
            if len(actions) != len(episodes):
                raise ValueError(f"The policy returned {len(actions)} actions for {len(episodes)} conversations.")
            steps += len(episodes)
            for slot_index, episode, action in zip(active, episodes, actions):
                if not episode.step(action):
                    continue
                finished = episode.rows(env_name, policy_name, metadata or {})
                rows.extend(finished)
                if shards:
                    shards.add(finished)
                bar.update(1)
                next_index = next(queue, None)
                slots[slot_index] = None if next_index is None else _Episode(next_index, seed + next_index, episode.env)
            bar.set_postfix(steps=steps)
    finally:
        bar.close()
        if shards:
            shards.flush()
    if shards:
        return shards.load(seed, num_episodes)
    rows.sort(key=lambda r: (r["seed"], r["agent_id"]))
    return trajectories_from_rows(rows)


class _ShardWriter:
    """Parquet shards of finished trajectories, written atomically as they fill."""

    def __init__(self, directory: str | os.PathLike, shard_size: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.buffer: list[dict[str, Any]] = []

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("shard-*.parquet"))

    def _existing(self) -> Dataset | None:
        files = self._files()
        if not files:
            return None
        return load_dataset("parquet", data_files=[str(f) for f in files], split="train", features=TRAJECTORY_FEATURES)

    def completed_episodes(self, seed: int, num_episodes: int) -> set[int]:
        existing = self._existing()
        if existing is None:
            return set()
        return {s - seed for s in existing["seed"] if 0 <= s - seed < num_episodes}

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.buffer.extend(rows)
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        shard = trajectories_from_rows(self.buffer)
        path = self.directory / f"shard-{len(self._files()):05d}-{time.time_ns()}.parquet"
        tmp = path.with_suffix(".tmp")
        shard.to_parquet(str(tmp))
        os.replace(tmp, path)
        self.buffer = []

    def load(self, seed: int, num_episodes: int) -> Dataset:
        existing = self._existing()
        if existing is None:
            return trajectories_from_rows([])
        wanted = existing.filter(
            lambda s: [seed <= x < seed + num_episodes for x in s], input_columns="seed", batched=True
        )
        seeds, agents = wanted["seed"], wanted["agent_id"]
        return wanted.select(sorted(range(len(wanted)), key=lambda i: (seeds[i], agents[i])))
