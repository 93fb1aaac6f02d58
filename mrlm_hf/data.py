"""The trajectory dataset: its schema, persistence and the utilities users of MRLM expect.

One row per trajectory (``TRAJECTORY_FEATURES``):

| column | type | meaning |
| --- | --- | --- |
| ``env_name`` | string | registry name of the environment |
| ``env_kwargs`` | string | JSON of the constructor arguments (``make_env(env_name, **json.loads(env_kwargs))``) |
| ``seed`` | int64 | ``reset(seed=...)`` of the episode: the same seed gives the same task |
| ``agent_id`` | string | which agent acted (``agent_0`` unless the environment is multi-agent) |
| ``role`` | string | the agent's role in the environment (e.g. ``pro``/``con`` in a debate), or ``agent`` |
| ``system_prompt`` | string | system turn of the chat ('' when none) |
| ``observations`` | list of string | ``o_0 .. o_T``: the first observation, then one per action |
| ``actions`` | list of string | ``a_0 .. a_{T-1}`` |
| ``rewards`` | list of float32 | ``r_0 .. r_{T-1}`` |
| ``infos`` | list of string | JSON of each step's ``info`` |
| ``terminated`` / ``truncated`` | bool | task over / turn limit reached |
| ``success`` | bool | the environment reported the task solved |
| ``return`` | float32 | sum of rewards |
| ``length`` | int32 | number of actions T |
| ``metadata`` | string | JSON: policy name, task id, collection time, ... |
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, Features, Value, load_dataset, load_from_disk
from datasets import Sequence as Seq

TRAJECTORY_FEATURES = Features(
    {
        "env_name": Value("string"),
        "env_kwargs": Value("string"),
        "seed": Value("int64"),
        "agent_id": Value("string"),
        "role": Value("string"),
        "system_prompt": Value("string"),
        "observations": Seq(Value("string")),
        "actions": Seq(Value("string")),
        "rewards": Seq(Value("float32")),
        "infos": Seq(Value("string")),
        "terminated": Value("bool"),
        "truncated": Value("bool"),
        "success": Value("bool"),
        "return": Value("float32"),
        "length": Value("int32"),
        "metadata": Value("string"),
    }
)

TRANSITION_FEATURES = Features(
    {
        "env_name": Value("string"),
        "seed": Value("int64"),
        "agent_id": Value("string"),
        "step": Value("int32"),
        "system_prompt": Value("string"),
        "observations": Seq(Value("string")),
        "actions": Seq(Value("string")),
        "action": Value("string"),
        "next_observation": Value("string"),
        "reward": Value("float32"),
        "done": Value("bool"),
        "terminated": Value("bool"),
        "truncated": Value("bool"),
        "return": Value("float32"),
    }
)

FORMATS = ("arrow", "parquet", "jsonl")


def trajectories_from_rows(rows: Sequence[dict[str, Any]]) -> Dataset:
    """Build a trajectory dataset from row dicts (missing optional columns get defaults)."""
    defaults: dict[str, Any] = {
        "env_kwargs": "{}",
        "seed": -1,
        "agent_id": "agent_0",
        "role": "agent",
        "system_prompt": "",
        "infos": None,
        "terminated": False,
        "truncated": False,
        "success": False,
        "metadata": "{}",
    }
    full = []
    for row in rows:
        row = {**defaults, **row}
        if row["infos"] is None:
            row["infos"] = ["{}"] * len(row["actions"])
        row.setdefault("return", float(sum(row["rewards"])))
        row.setdefault("length", len(row["actions"]))
        full.append({k: row[k] for k in TRAJECTORY_FEATURES})
    return Dataset.from_list(full, features=TRAJECTORY_FEATURES)


# ---------------------------------------------------------------------------------------------------- persistence
def save_trajectories(dataset: Dataset, path: str | os.PathLike, format: str | None = None) -> Path:
    """Save to ``path``: a directory (``arrow``, via ``save_to_disk``), ``*.parquet`` or ``*.jsonl``.

    The format follows the suffix unless given. To share on the Hub: ``dataset.push_to_hub("user/name")``."""
    path = Path(path)
    format = format or _format_of(path)
    if format == "arrow":
        dataset.save_to_disk(str(path))
    elif format == "parquet":
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(path))
    elif format == "jsonl":
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_json(str(path), lines=True, force_ascii=False)
    else:
        raise ValueError(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    return path


def load_trajectories(path: str | os.PathLike, format: str | None = None) -> Dataset:
    """Load what ``save_trajectories`` wrote (or any parquet/JSON-lines file with the schema's columns)."""
    path = Path(path)
    format = format or _format_of(path)
    if not path.exists():
        raise FileNotFoundError(f"No trajectory dataset at {path}.")
    if format == "arrow":
        loaded = load_from_disk(str(path))
        return loaded["train"] if isinstance(loaded, DatasetDict) else loaded
    builder = "parquet" if format == "parquet" else "json"
    features = TRAJECTORY_FEATURES if _has_trajectory_columns(path, builder) else None
    return load_dataset(builder, data_files=str(path), split="train", features=features)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    return "arrow"


def _has_trajectory_columns(path: Path, builder: str) -> bool:
    if builder == "parquet":
        import pyarrow.parquet as pq

        names = set(pq.read_schema(str(path)).names)
    else:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        names = set(json.loads(first)) if first.strip() else set()
    return names == set(TRAJECTORY_FEATURES)


# ---------------------------------------------------------------------------------------------------- utilities
def filter_by_reward(dataset: Dataset, min_return: float) -> Dataset:
    """Keep trajectories whose return is at least ``min_return``."""
    return dataset.filter(lambda r: [x >= min_return for x in r], input_columns="return", batched=True)


def to_transitions(dataset: Dataset) -> Dataset:
    """One row per step: the history (``observations`` up to the current one, past ``actions``), the ``action``,
    the ``next_observation``, its ``reward`` and whether the episode ended there (``done``)."""

    def explode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in TRANSITION_FEATURES}
        for i in range(len(batch["actions"])):
            observations, actions, rewards = batch["observations"][i], batch["actions"][i], batch["rewards"][i]
            for k, action in enumerate(actions):
                last = k == len(actions) - 1
                out["env_name"].append(batch["env_name"][i])
                out["seed"].append(batch["seed"][i])
                out["agent_id"].append(batch["agent_id"][i])
                out["step"].append(k)
                out["system_prompt"].append(batch["system_prompt"][i])
                out["observations"].append(observations[: k + 1])
                out["actions"].append(actions[:k])
                out["action"].append(action)
                out["next_observation"].append(observations[k + 1] if k + 1 < len(observations) else "")
                out["reward"].append(rewards[k])
                out["done"].append(last and (batch["terminated"][i] or batch["truncated"][i]))
                out["terminated"].append(last and batch["terminated"][i])
                out["truncated"].append(last and batch["truncated"][i])
                out["return"].append(batch["return"][i])
        return out

    return dataset.map(explode, batched=True, remove_columns=dataset.column_names, features=TRANSITION_FEATURES)


def split_trajectories(dataset: Dataset, test_size: float | int = 0.1, seed: int = 0) -> DatasetDict:
    """Train/test split by trajectory (``datasets.Dataset.train_test_split``)."""
    return dataset.train_test_split(test_size=test_size, seed=seed)


def trajectory_stats(dataset: Dataset) -> dict[str, float]:
    """Success rate, mean return and mean length (actions per trajectory)."""
    n = len(dataset)
    if n == 0:
        return {"num_trajectories": 0, "success_rate": 0.0, "mean_return": 0.0, "mean_length": 0.0}
    table = dataset.select_columns(["success", "return", "length"]).to_dict()
    return {
        "num_trajectories": n,
        "success_rate": sum(table["success"]) / n,
        "mean_return": sum(table["return"]) / n,
        "mean_length": sum(table["length"]) / n,
    }
