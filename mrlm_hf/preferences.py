"""Preference pairs from trajectories, for TRL's ``DPOTrainer``.

A **state** is an environment, its constructor arguments, a seed, an agent and a history (the system prompt, the
observations ``o_0 .. o_k`` and the actions ``a_0 .. a_{k-1}``). Environments are deterministic given the seed and
the actions, so two trajectories with the same seed and the same first ``k`` actions pass through the same state.
At a state where the trajectories take different next actions, each next action ``a`` is scored by the mean
**return from the state onward** (the sum of rewards ``r_k .. r_{T-1}``) of the trajectories that took it: a
Monte-Carlo estimate of the action's value under the policy that played the continuations. Each pair of actions
whose values differ by more than ``min_return_gap`` gives one preference pair: chosen = the higher-value action,
rejected = the lower one. Equal (and near-equal) values never give a pair.

Rows follow TRL's conversational preference format: ``prompt`` is the history as chat messages
(``mrlm_hf.chat.trajectory_messages``, ending with the observation ``o_k``), ``chosen`` and ``rejected`` are each
**one assistant message: the action taken at the state**. The rest of the continuation is not in the completion
because TRL 1.16's ``DPOTrainer`` trains every token after the prompt: with several messages it would also train
the environment's observations and the template's headers. The continuation's outcome is in the preference label
(and in ``chosen_return``/``rejected_return``), not in the tokens.

Two sources: ``build_preference_pairs`` reads an existing trajectory dataset with several trajectories per seed;
``collect_preference_pairs`` samples ``samples_per_state`` continuations at chosen states (the initial state, and
states reached by a reference policy, restored by replaying the seed and the action prefix) with
``mrlm_hf.rollout.collect_trajectories`` and pairs them. ``TrajectoryDPOTrainer`` is TRL's ``DPOTrainer`` with
completions cut after their end-of-turn token, so exactly the action and its end-of-turn token are trained.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, Features, List, Value
from trl import DPOTrainer

from mrlm_hf.chat import ACTION_ROLE, Message, fold_system_prompt, trajectory_messages
from mrlm_hf.data import read_saved_dataset, save_trajectories, trajectories_from_rows, validate_trajectories
from mrlm_hf.envs import TextEnv, make_env
from mrlm_hf.policies import Policy, end_of_turn_token_ids
from mrlm_hf.rollout import EnvSpec, collect_trajectories

MESSAGES = List({"role": Value("string"), "content": Value("string")})

#: One row per preference pair; ``prompt``/``chosen``/``rejected`` are what ``trl.DPOTrainer`` reads.
PREFERENCE_FEATURES = Features(
    {
        "prompt": MESSAGES,  # the history up to the state: [system], user o_0, assistant a_0, ..., user o_k
        "chosen": MESSAGES,  # [assistant: the higher-value action at the state]
        "rejected": MESSAGES,  # [assistant: the lower-value action at the state]
        "env_name": Value("string"),
        "env_kwargs": Value("string"),  # JSON of the constructor arguments
        "seed": Value("int64"),  # reset(seed=...) of every trajectory behind the pair
        "agent_id": Value("string"),
        "step": Value("int32"),  # k: actions in the history before the state
        "chosen_return": Value("float32"),  # mean return from the state onward of the chosen action's continuations
        "rejected_return": Value("float32"),
        "chosen_count": Value("int32"),  # continuations behind each mean
        "rejected_count": Value("int32"),
        "metadata": Value("string"),  # JSON: source row indices, policy names
    }
)

_REQUIRED = ("env_name", "env_kwargs", "seed", "agent_id", "system_prompt", "observations", "actions", "rewards")


def preference_pairs_from_rows(rows: Sequence[dict[str, Any]]) -> Dataset:
    """A preference dataset with the ``PREFERENCE_FEATURES`` schema from row dicts."""
    columns = {k: [row[k] for row in rows] for k in PREFERENCE_FEATURES}
    return Dataset.from_dict(columns, features=PREFERENCE_FEATURES)


def build_preference_pairs(
    trajectories: Dataset,
    *,
    min_return_gap: float = 1e-6,
    max_pairs_per_state: int | None = None,
) -> Dataset:
    """Preference pairs at every state that two or more trajectories of ``trajectories`` reach and leave by
    different actions.

    Rows are grouped by ``env_name``, ``env_kwargs``, ``seed``, ``agent_id`` and shared history (system prompt,
    observations and actions so far). A pair needs ``chosen_return - rejected_return > min_return_gap`` (values
    are means of the return from the state onward over the continuations that start with each action); raise the
    gap to ignore near-ties, e.g. ``0.5`` keeps only success-against-failure pairs when rewards are 0/1.
    ``max_pairs_per_state`` keeps the pairs with the largest gaps at each state."""
    if min_return_gap < 0:
        raise ValueError(f"min_return_gap must be >= 0, got {min_return_gap}.")
    missing = [c for c in _REQUIRED if c not in trajectories.column_names]
    if missing:
        raise ValueError(
            f"build_preference_pairs needs a trajectory dataset (mrlm_hf.TRAJECTORY_FEATURES); columns {missing} "
            f"are missing (got {trajectories.column_names})."
        )
    validate_trajectories(trajectories)  # lengths, types, finite rewards: errors name the row and the column
    # A trie of states: node (group, o_0) at step 0, then (parent node, a_{k-1}, o_k); O(T) keys per trajectory.
    nodes: dict[tuple, int] = {}
    where: list[tuple[tuple, int, int]] = []  # node -> (group, a row through it, its step k)
    by_node: list[dict[str, list[tuple[float, int]]]] = []  # node -> next action -> [(return from here, row)]
    histories: dict[int, tuple[list[str], list[str]]] = {}
    for index, row in enumerate(trajectories.select_columns(list(_REQUIRED))):
        observations, actions, rewards = row["observations"], row["actions"], row["rewards"]
        group = (row["env_name"], row["env_kwargs"], row["seed"], row["agent_id"], row["system_prompt"] or "")
        returns_to_go, to_go = [0.0] * len(actions), 0.0
        for k in reversed(range(len(actions))):
            to_go += rewards[k]
            returns_to_go[k] = to_go
        parent: Any = group
        for k, action in enumerate(actions):
            key = (parent, actions[k - 1], observations[k]) if k else (group, observations[0])
            node = nodes.setdefault(key, len(nodes))
            if node == len(by_node):
                where.append((group, index, k))
                by_node.append({})
                histories.setdefault(index, (observations, actions))
            by_node[node].setdefault(action, []).append((returns_to_go[k], index))
            parent = node

    pairs = []
    for (group, representative, k), by_action in zip(where, by_node):
        if len(by_action) < 2:
            continue
        env_name, env_kwargs, seed, agent_id, system_prompt = group
        # Means rounded to float32 (the stored type) before comparing: a stored pair is never a tie.
        values = {a: float(np.float32(sum(r for r, _ in runs) / len(runs))) for a, runs in by_action.items()}
        candidates = []
        for a, b in combinations(by_action, 2):
            high, low = (a, b) if values[a] >= values[b] else (b, a)
            gap = values[high] - values[low]
            if gap > min_return_gap:
                candidates.append((gap, high, low))
        candidates.sort(key=lambda c: -c[0])  # stable: equal gaps keep the order the actions were first seen
        if max_pairs_per_state is not None:
            candidates = candidates[:max_pairs_per_state]
        observations, actions = histories[representative]
        observations, actions = observations[: k + 1], actions[:k]
        prompt = trajectory_messages(system_prompt, observations, actions)
        for _, high, low in candidates:
            pairs.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": ACTION_ROLE, "content": high}],
                    "rejected": [{"role": ACTION_ROLE, "content": low}],
                    "env_name": env_name,
                    "env_kwargs": env_kwargs,
                    "seed": seed,
                    "agent_id": agent_id,
                    "step": len(actions),
                    "chosen_return": values[high],
                    "rejected_return": values[low],
                    "chosen_count": len(by_action[high]),
                    "rejected_count": len(by_action[low]),
                    "metadata": json.dumps(
                        {
                            "chosen_rows": [i for _, i in by_action[high]],
                            "rejected_rows": [i for _, i in by_action[low]],
                        }
                    ),
                }
            )
    return preference_pairs_from_rows(pairs)


# ---------------------------------------------------------------------------------------------------- state replay
def replay(
    env: TextEnv, seed: int, actions: Sequence[str]
) -> tuple[list[str], list[float], list[dict[str, Any]], dict[str, Any]]:
    """Restore a state: ``env.reset(seed=seed)`` then step ``actions``.

    Returns the observations ``o_0 .. o_k`` (the last one is the current observation), the rewards and step infos
    of the replayed actions, and the reset info. Raises if the episode ends before the last action (a deterministic
    environment reaches the same state every time)."""
    observation, reset_info = env.reset(seed=seed)
    observations, rewards, infos = [observation], [], []
    for i, action in enumerate(actions):
        if env.done:
            raise ValueError(
                f"Replaying seed {seed}: the episode ended after action {i - 1}, before the {len(actions)} actions "
                "given were taken."
            )
        observation, reward, _, _, info = env.step(action)
        observations.append(observation)
        rewards.append(reward)
        infos.append(info)
    return observations, rewards, infos, reset_info


@dataclass
class _Job:
    """One episode to play: reset with ``seed``, replay ``actions`` (checking ``observations`` when known)."""

    seed: int
    actions: tuple[str, ...] = ()
    observations: tuple[str, ...] = ()
    replayed: dict[str, Any] = field(default_factory=dict)


class _ReplayEnv:
    """An environment whose ``reset(seed=j)`` plays job ``j``: the job's seed, then its action prefix.

    ``collect_trajectories`` resets episode ``i`` with ``seed + i``; with ``seed=0`` the episode index is the job
    index, so one batched collection plays every (state, sample) job. Everything else is the wrapped environment's."""

    def __init__(self, inner: TextEnv, jobs: list[_Job]) -> None:
        self.inner, self.jobs = inner, jobs
        self.history: list[Message] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner"], name)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        job = self.jobs[seed]
        observations, rewards, infos, reset_info = replay(self.inner, job.seed, job.actions)
        if self.inner.done:
            raise RuntimeError(f"Replaying seed {job.seed}: the episode ended; no state to branch from there.")
        if job.observations and tuple(observations) != job.observations:
            step = next(i for i, (a, b) in enumerate(zip(observations, job.observations)) if a != b)
            raise RuntimeError(
                f"Replaying seed {job.seed} with the same actions gave a different observation {step}: the "
                f"environment {self.inner.name!r} is not deterministic given its seed and actions, so states cannot "
                "be restored for preference pairs."
            )
        job.replayed = {
            "observations": observations[:-1],
            "rewards": rewards,
            "infos": [json.dumps(i, default=str) for i in infos],
            "agent_id": str(reset_info.get("agent_id", "agent_0")),
        }
        self.history = trajectory_messages(self.inner.system_prompt, observations[:-1], job.actions)
        return observations[-1], reset_info


class _WithHistory:
    """Show the policy the whole history: the replayed prefix, then the conversation since the state."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = getattr(policy, "name", type(policy).__name__)

    def __call__(self, conversations: list[list[Message]], envs: Sequence[Any] | None = None) -> list[str]:
        full = [
            [*env.history, *(m for m in conversation if m["role"] != "system")] if env.history else conversation
            for conversation, env in zip(conversations, envs)
        ]
        return self.policy(full, envs)


def _play_jobs(
    env: EnvSpec,
    policy: Policy,
    jobs: list[_Job],
    env_kwargs: dict[str, Any] | None,
    num_envs: int,
    progress: bool,
    metadata: dict[str, Any],
) -> Dataset:
    """Play every job to the end with ``policy``; return full trajectories (replayed prefix + continuation)."""
    factory = (lambda: make_env(env, **(env_kwargs or {}))) if isinstance(env, str) else env
    played = collect_trajectories(
        lambda: _ReplayEnv(factory(), jobs),
        _WithHistory(policy),
        len(jobs),
        seed=0,
        num_envs=num_envs,
        progress=progress,
        metadata=metadata,
    )
    rows = []
    for row in played:
        job = jobs[row["seed"]]
        prefix = job.replayed
        if row["agent_id"] != prefix["agent_id"]:
            continue  # other agents of a multi-agent environment: their rows hold no replayed prefix
        meta = {**json.loads(row["metadata"]), "job": row["seed"], "branch_step": len(job.actions)}
        rows.append(
            {
                **{k: row[k] for k in ("env_name", "env_kwargs", "agent_id", "role", "system_prompt")},
                "seed": job.seed,
                "observations": [*prefix["observations"], *row["observations"]],
                "actions": [*job.actions, *row["actions"]],
                "rewards": [*prefix["rewards"], *row["rewards"]],
                "infos": [*prefix["infos"], *row["infos"]],
                "terminated": row["terminated"],
                "truncated": row["truncated"],
                "success": row["success"],
                "metadata": json.dumps(meta),
            }
        )
    return trajectories_from_rows(rows)


def collect_preference_pairs(
    env: EnvSpec,
    policy: Policy,
    seeds: Sequence[int],
    *,
    samples_per_state: int = 4,
    env_kwargs: dict[str, Any] | None = None,
    reference_policy: Policy | None = None,
    branch_steps: Sequence[int] = (0,),
    min_return_gap: float = 1e-6,
    max_pairs_per_state: int | None = None,
    num_envs: int = 32,
    progress: bool = True,
    return_trajectories: bool = False,
) -> Dataset | tuple[Dataset, Dataset]:
    """Sample ``samples_per_state`` continuations with ``policy`` at states of each seed, play each to the end,
    and pair them (``build_preference_pairs``).

    The states are those at ``branch_steps`` (numbers of actions taken) along one episode of ``reference_policy``
    per seed; step 0, the initial state, needs no reference policy. Each state is restored by replaying the seed
    and the reference's action prefix (checked against the reference's observations). ``policy`` must sample
    (``RandomPolicy``, ``TransformersPolicy(do_sample=True)``, ...): identical continuations give no pairs. Every
    trajectory through a state counts towards that state's action values, wherever it was branched: one branched
    after the reference's first actions also passes through the initial state, with the reference's first action. With
    ``return_trajectories=True`` the sampled trajectories (full histories, ``TRAJECTORY_FEATURES``) are returned
    as well."""
    if samples_per_state < 2:
        raise ValueError(f"samples_per_state must be >= 2 to compare continuations, got {samples_per_state}.")
    if any(k < 0 for k in branch_steps):
        raise ValueError(f"branch_steps must be >= 0, got {list(branch_steps)}.")
    seeds = list(seeds)
    deep = sorted({k for k in branch_steps if k > 0})
    references: dict[int, dict[str, Any]] = {}
    if deep:
        if reference_policy is None:
            raise ValueError(f"branch_steps {deep} need a reference_policy that reaches those states.")
        played = _play_jobs(
            env, reference_policy, [_Job(s) for s in seeds], env_kwargs, num_envs, progress, {"role": "reference"}
        )
        references = {row["seed"]: row for row in played}
    jobs = []
    for seed in seeds:
        for k in sorted(set(branch_steps)):
            if k == 0:
                state = _Job(seed)
            else:
                reference = references[seed]
                if k >= len(reference["actions"]):
                    continue  # the reference episode ended before step k: no state to branch from
                state = _Job(seed, tuple(reference["actions"][:k]), tuple(reference["observations"][: k + 1]))
            jobs.extend(_Job(state.seed, state.actions, state.observations) for _ in range(samples_per_state))
    metadata = {"reference_policy": getattr(reference_policy, "name", None) if deep else None}
    trajectories = _play_jobs(env, policy, jobs, env_kwargs, num_envs, progress, metadata)
    pairs = build_preference_pairs(trajectories, min_return_gap=min_return_gap, max_pairs_per_state=max_pairs_per_state)
    return (pairs, trajectories) if return_trajectories else pairs


# ---------------------------------------------------------------------------------------------------- persistence
def save_preference_pairs(dataset: Dataset, path: str | os.PathLike, format: str | None = None) -> Path:
    """Save like trajectories (``mrlm_hf.save_trajectories``): a directory (Arrow), ``*.parquet`` or ``*.jsonl``.
    To share: ``dataset.push_to_hub("user/name")``."""
    return save_trajectories(dataset, path, format)


def load_preference_pairs(path: str | os.PathLike, format: str | None = None) -> Dataset:
    """Load what ``save_preference_pairs`` wrote, with the ``PREFERENCE_FEATURES`` schema."""
    dataset = read_saved_dataset(path, format)
    if dataset is None:
        return Dataset.from_dict({name: [] for name in PREFERENCE_FEATURES}, features=PREFERENCE_FEATURES)
    missing = [c for c in PREFERENCE_FEATURES if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{path} is not a preference dataset: columns {missing} are missing.")
    return dataset.select_columns(list(PREFERENCE_FEATURES)).cast(PREFERENCE_FEATURES)


# ---------------------------------------------------------------------------------------------------- training
class TrajectoryDPOTrainer(DPOTrainer):
    """TRL's ``DPOTrainer`` that trains exactly each action and its end-of-turn token.

    TRL 1.16 trains every token after the prompt; chat templates render markup after the end-of-turn token (ChatML
    a newline, Phi-3 another end token) that the policy never generates, because generation stops at the
    end-of-turn token. ``_prepare_dataset`` is the only hook where the completion ids are built, so it is extended
    here: completions are cut after their first end-of-turn token (``mrlm_hf.policies.end_of_turn_token_ids``, the
    tokens ``TransformersPolicy`` stops at). Completions must be one assistant message each (see the module
    docstring): a multi-message completion would train the environment's observations, and is refused. A template
    that refuses the system role (Gemma) gets the system prompt folded into the first user turn, as
    ``TransformersPolicy`` does when it acts.

    TRL builds the reference model from the policy's checkpoint path; a model built in memory has none, so without
    ``ref_model`` (and without PEFT, where disabling the adapter gives the reference) a frozen copy is used."""

    def __init__(self, model: Any, ref_model: Any = None, *args: Any, **kwargs: Any) -> None:
        in_memory = not isinstance(model, str) and not getattr(model.config, "_name_or_path", "")
        if ref_model is None and in_memory and kwargs.get("peft_config") is None:
            ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        super().__init__(model, ref_model, *args, **kwargs)

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        if isinstance(dataset, Dataset) and {"chosen", "rejected"} <= set(dataset.column_names):
            for column in ("chosen", "rejected"):
                for index, completion in enumerate(dataset[column]):
                    if not isinstance(completion, list):
                        break  # plain-text completions: nothing to check
                    if len(completion) != 1 or completion[0].get("role") != ACTION_ROLE:
                        raise ValueError(
                            f"Row {index} of the {dataset_name} dataset: column {column!r} holds "
                            f"{[m.get('role') for m in completion]}; TrajectoryDPOTrainer trains one assistant message "
                            "per completion (put earlier turns in 'prompt'; build rows with build_preference_pairs)."
                        )
            if _refuses_system_role(self._tokenizer):  # Gemma: fold it into the first user turn, as at inference
                dataset = dataset.map(lambda prompt: {"prompt": fold_system_prompt(prompt)}, input_columns="prompt")
        dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        stops = frozenset(end_of_turn_token_ids(self._tokenizer))

        def cut(example: dict[str, Any]) -> dict[str, Any]:
            return {name: _through_first(example[name], stops) for name in ("chosen_ids", "rejected_ids")}

        return dataset.map(cut)


def _refuses_system_role(tokenizer: Any) -> bool:
    try:
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], tokenize=False
        )
    except Exception:
        return True
    return False


def _through_first(ids: list[int], stops: frozenset[int]) -> list[int]:
    return next((ids[: i + 1] for i, t in enumerate(ids) if t in stops), ids)
