"""The rollout builder: run a policy in many environments in lockstep and return a trajectory ``Dataset``.

Episodes run in groups of up to ``num_envs``: each turn of a group is one batched policy call over its running
episodes, and a finished episode's slot immediately starts the next one, so the batch stays full. Episode ``i`` is
reset with ``seed + i``. The environment steps of a batch run concurrently on a thread pool (``step_workers``, the
machine's cores by default): sandboxed code and tool executions are subprocesses, so they overlap. With
``pipeline_groups`` groups in flight (2 by default where steps may leave the calling thread), one group's steps run
on the pool while the policy generates for the next group, so generation and environment time overlap; every policy
call stays a full batch of ``num_envs`` and runs on the calling thread, never on two threads at once. Results are
gathered in slot order and the schedule is fixed, so a policy whose action depends only on the conversation (the
experts; greedy decoding, barring floating-point ties between batch shapes) gives the same dataset for any
``step_workers``, ``num_envs`` and ``pipeline_groups``; a policy that draws from one shared generator
(``RandomPolicy``, sampling) gives the same dataset for the same arguments.

With ``shard_dir``, finished trajectories are written as parquet shards as they complete, and a rerun with the
same arguments skips the episodes already on disk, so an interrupted collection loses at most the episodes in
flight. ``shard_dir/manifest.json`` records what the directory holds (environment name and constructor arguments,
and each run's policy, first seed and number of episodes); a request for another environment, other arguments, or
seeds that another policy already played there is refused, so a resume never returns rows that were not asked for.
A lock (``shard_dir/.lock``) lets one collector write at a time: a second one waits, then resumes from what the
first wrote, so concurrent collectors never duplicate rows.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Dataset, load_dataset
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from mrlm_hf.chat import trajectory_messages
from mrlm_hf.data import TRAJECTORY_FEATURES, trajectories_from_rows
from mrlm_hf.envs import TextEnv, coerce_action, make_env
from mrlm_hf.policies import Policy

logger = logging.getLogger(__name__)

EnvSpec = str | Callable[[], TextEnv]
MANIFEST = "manifest.json"


def default_step_workers() -> int:
    """Threads that step environments concurrently by default: the CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_envs(
    function: Callable[..., Any], envs: Sequence[TextEnv], *columns: Sequence[Any], workers: int | None = None
) -> list[Any]:
    """``[function(env, *args) for env, *args in zip(envs, *columns)]``, the environments stepped concurrently.

    Sandboxed code and tool executions are subprocesses, so threads overlap them. Results keep the input order.
    Environments that may share state (``concurrent_steps = False``) run one after another."""
    items = list(zip(envs, *columns))
    workers = default_step_workers() if workers is None else workers
    if workers <= 1 or len(items) <= 1 or not all(getattr(env, "concurrent_steps", True) for env in envs):
        return [function(*args) for args in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="mrlm-step") as pool:
        return list(pool.map(lambda args: function(*args), items))


def policy_identity(policy: Any) -> str:
    """What names a policy in a shard directory's manifest: its ``identity`` (attribute or method) when it has
    one, else its ``name`` (or function/class name) plus the model it wraps (``name_or_path`` or server model)."""
    identity = getattr(policy, "identity", None)
    if identity is not None:
        return str(identity() if callable(identity) else identity)
    name = getattr(policy, "name", None) or getattr(policy, "__qualname__", None) or type(policy).__qualname__
    model = getattr(policy, "model", None)
    source = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", "")
    return f"{name}({source})" if source else str(name)


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
    step_workers: int | None = None,
    pipeline_groups: int | None = None,
) -> Dataset:
    """Run ``num_episodes`` episodes (seeds ``seed .. seed + num_episodes - 1``) and return their trajectories.

    ``env`` is a registry name (built with ``env_kwargs``) or a zero-argument factory. ``policy`` is any
    ``mrlm_hf.policies.Policy``. Rows are ordered by episode (and agent, for multi-agent environments).
    ``num_envs``: episodes per policy call (the batch). ``step_workers``: threads stepping environments
    concurrently (``None``: the machine's cores; 1: one after another); the dataset never depends on it.
    ``pipeline_groups``: groups of up to ``num_envs`` episodes in flight (so up to ``pipeline_groups * num_envs``
    environments); while one group's environments step on the threads, the policy generates for the next, so
    environment time hides behind generation. Two groups hide steps that take up to one policy call; three, up to
    two. ``None``: 2 when the environments may step on threads (``concurrent_steps``), else 1 (lockstep, steps on
    the calling thread). Groups never shrink a batch: with fewer than ``pipeline_groups * num_envs`` episodes to
    play, only as many groups as the episodes fill are formed (split evenly). ``shard_dir``: see the module
    docstring."""
    if num_episodes < 0:
        raise ValueError(f"num_episodes must be >= 0, got {num_episodes}.")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
    workers = default_step_workers() if step_workers is None else step_workers
    if workers < 1:
        raise ValueError(f"step_workers must be >= 1 (1 steps environments one after another), got {step_workers}.")
    if pipeline_groups is not None and pipeline_groups < 1:
        raise ValueError(
            f"pipeline_groups must be >= 1 (1: no overlap of generation and steps), got {pipeline_groups}."
        )
    factory = (lambda: make_env(env, **(env_kwargs or {}))) if isinstance(env, str) else env
    probe = factory()
    env_name = env if isinstance(env, str) else probe.name
    policy_name = getattr(policy, "name", type(policy).__name__)
    if pipeline_groups is None:
        pipeline_groups = 2 if getattr(probe, "concurrent_steps", True) else 1
    run = (factory, probe, env_name, policy, policy_name, num_episodes, seed, num_envs, workers, pipeline_groups)
    if shard_dir is None:
        return _collect(*run, None, progress, metadata)
    request = {
        "env_name": env_name,
        "env_kwargs": json.dumps(probe.config, sort_keys=True, default=str),
        "policy": policy_identity(policy),
        "seed": seed,
        "num_episodes": num_episodes,
    }
    with _ShardWriter(shard_dir, shard_size) as shards:
        shards.claim(request)
        return _collect(*run, shards, progress, metadata)


def _collect(
    factory: Callable[[], TextEnv],
    probe: TextEnv,
    env_name: str,
    policy: Policy,
    policy_name: str,
    num_episodes: int,
    seed: int,
    num_envs: int,
    workers: int,
    pipeline_groups: int,
    shards: _ShardWriter | None,
    progress: bool,
    metadata: dict[str, Any] | None,
) -> Dataset:
    done_episodes = shards.completed_episodes(seed, num_episodes) if shards else set()
    pending = [i for i in range(num_episodes) if i not in done_episodes]

    in_flight = min(pipeline_groups * num_envs, len(pending))
    envs = [probe] + [factory() for _ in range(in_flight - 1)]
    threaded = all(getattr(instance, "concurrent_steps", True) for instance in envs)
    if pipeline_groups > 1 and not threaded:
        raise ValueError(
            f"pipeline_groups={pipeline_groups} steps environments on threads beside the policy, but {env_name!r} "
            "here has concurrent_steps=False (its instances share state, e.g. a model opponent that must not run "
            "beside the policy): use pipeline_groups=1."
        )
    groups = _groups(envs[:in_flight], -(-in_flight // num_envs) if in_flight else 0)
    queue = iter(pending)
    slots = [[_Episode(index, seed + index, instance) for instance, index in zip(group, queue)] for group in groups]
    # Steps leave the calling thread when they may run concurrently, or when they overlap generation (one worker
    # then steps them one after another beside the policy).
    pool = (
        ThreadPoolExecutor(workers, thread_name_prefix="mrlm-step")
        if threaded and (workers > 1 or len(slots) > 1)
        else None
    )
    stepping: list[list[Any] | None] = [None] * len(slots)  # per group: (slot, episode, result or future)

    bar = tqdm(total=num_episodes, initial=len(done_episodes), desc=f"Rollouts ({env_name})", disable=not progress)
    rows: list[dict[str, Any]] = []
    steps = 0
    try:
        while any(stepping) or any(any(group) for group in slots):
            for g, group in enumerate(slots):  # a fixed round-robin: the schedule never depends on timing
                for slot_index, episode, result in stepping[g] or []:  # in slot order, as stepped serially
                    if not (result.result() if pool else result):
                        continue
                    finished = episode.rows(env_name, policy_name, metadata or {})
                    rows.extend(finished)
                    if shards:
                        shards.add(finished)
                    bar.update(1)
                    next_index = next(queue, None)
                    group[slot_index] = (
                        None if next_index is None else _Episode(next_index, seed + next_index, episode.env)
                    )
                stepping[g] = None
                active = [i for i, slot in enumerate(group) if slot is not None]
                if not active:
                    continue
                episodes = [group[i] for i in active]
                actions = policy([e.messages() for e in episodes], [e.env for e in episodes])
                if len(actions) != len(episodes):
                    raise ValueError(f"The policy returned {len(actions)} actions for {len(episodes)} conversations.")
                steps += len(episodes)
                results = (
                    [pool.submit(e.step, a) for e, a in zip(episodes, actions)]
                    if pool
                    else [e.step(a) for e, a in zip(episodes, actions)]
                )
                stepping[g] = list(zip(active, episodes, results))
                bar.set_postfix(steps=steps)
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)  # after an error: no step outlives the collection
        bar.close()
        if shards:
            shards.flush()
    if shards:
        return shards.load(seed, num_episodes)
    rows.sort(key=lambda r: (r["seed"], r["agent_id"]))
    return trajectories_from_rows(rows)


def _groups(items: list[Any], count: int) -> list[list[Any]]:
    """``items`` cut into ``count`` contiguous groups whose sizes differ by at most one."""
    size, extra = divmod(len(items), count) if count else (0, 0)
    bounds = [g * size + min(g, extra) for g in range(count + 1)]
    return [items[bounds[g] : bounds[g + 1]] for g in range(count)]


class _ShardWriter:
    """Parquet shards of finished trajectories, written atomically as they fill, under a directory lock and a
    manifest of what the directory holds."""

    def __init__(self, directory: str | os.PathLike, shard_size: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.buffer: list[dict[str, Any]] = []
        self.lock = FileLock(str(self.directory / ".lock"))

    def __enter__(self) -> _ShardWriter:
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            logger.warning("Another collector is writing into %s; waiting for it to finish.", self.directory)
            self.lock.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()

    # ------------------------------------------------------------------ manifest
    def claim(self, request: dict[str, Any]) -> None:
        """Check ``request`` against the manifest (refusing what the directory's rows cannot serve) and record it."""
        path = self.directory / MANIFEST
        if path.exists():
            manifest = json.loads(path.read_text())
        elif self._files():
            raise ValueError(
                f"{self.directory} holds trajectory shards but no {MANIFEST} (written by an older mrlm_hf), so what "
                "they hold is unknown: collect into a new shard_dir, or load these shards with "
                "mrlm_hf.load_trajectories(file) and check them."
            )
        else:
            manifest = {"env_name": request["env_name"], "env_kwargs": request["env_kwargs"], "runs": []}
        for key in ("env_name", "env_kwargs"):
            if manifest[key] != request[key]:
                raise ValueError(
                    f"{self.directory} holds trajectories of environment {manifest['env_name']!r} with arguments "
                    f"{manifest['env_kwargs']}; this collection asks for {request['env_name']!r} with "
                    f"{request['env_kwargs']}. Use another shard_dir (or delete this one to start over)."
                )
        first, stop = request["seed"], request["seed"] + request["num_episodes"]
        runs = manifest["runs"]
        for run in runs:
            overlap = max(first, run["seed"]) < min(stop, run["seed"] + run["num_episodes"])
            if overlap and run["policy"] != request["policy"]:
                raise ValueError(
                    f"{self.directory}: seeds {run['seed']}..{run['seed'] + run['num_episodes'] - 1} were collected "
                    f"by policy {run['policy']!r}; this collection (seeds {first}..{stop - 1}) uses "
                    f"{request['policy']!r}. Use another shard_dir, or seeds that do not overlap."
                )
        same = [r for r in runs if r["policy"] == request["policy"] and r["seed"] == first]
        if same:  # num_episodes may grow
            same[0]["num_episodes"] = max(same[0]["num_episodes"], request["num_episodes"])
        else:
            runs.append({k: request[k] for k in ("policy", "seed", "num_episodes")})
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, path)

    # ------------------------------------------------------------------ shards
    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("shard-*.parquet"))

    def _existing(self) -> Dataset | None:
        files = self._files()
        if not files:
            return None
        for file in files:
            try:
                pq.read_metadata(str(file))  # the footer: a truncated file fails here
            except Exception as exc:
                raise ValueError(_unreadable(file, exc)) from exc
        try:
            return load_dataset(
                "parquet", data_files=[str(f) for f in files], split="train", features=TRAJECTORY_FEATURES
            )
        except Exception as exc:
            raise ValueError(_unreadable(self.directory / "shard-*.parquet", exc)) from exc

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
        first: dict[tuple[int, str], int] = {}  # one row per (episode, agent), even in directories written before locks
        for i, key in enumerate(zip(seeds, agents)):
            first.setdefault(key, i)
        return wanted.select(sorted(first.values(), key=lambda i: (seeds[i], agents[i])))


def _unreadable(file: Path, exc: Exception) -> str:
    return (
        f"Trajectory shard {file} is unreadable ({type(exc).__name__}: {exc}); it was cut or corrupted (a crash "
        "while copying, a full disk). Delete it and rerun the same collection: its episodes are played again."
    )
