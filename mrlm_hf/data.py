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

Every dataset is checked at the boundary (``validate_trajectories``): when it is built (``trajectories_from_rows``),
loaded (``load_trajectories``), turned into transitions (``to_transitions``) and handed to the trainer. A row must
have ``len(observations) == len(actions) + 1``, ``len(rewards) == len(actions)`` (and ``len(infos)``, ``length``
likewise when present), no missing values, and finite rewards and return; a bad row is refused with its index, the
column and what is wrong. **The one exception**: an episode cut before its final observation
(``len(observations) == len(actions) >= 1``, e.g. a log that stops after the last action). Every action of such a
row trains (behavioral cloning); its last action has no next observation, so it has no world-model target, and
``to_transitions`` emits no transition for it (a transition needs its next observation).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, Features, Value, load_dataset, load_from_disk
from datasets import Sequence as Seq

from mrlm_hf.chat import check_history

logger = logging.getLogger(__name__)

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
    """Build a trajectory dataset from row dicts (missing optional columns get defaults), validated
    (``validate_trajectories``)."""
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
    for index, row in enumerate(rows):
        for column in ("observations", "actions", "rewards"):
            if not isinstance(row.get(column), (list, tuple)):
                got = "missing" if row.get(column) is None else f"a {type(row[column]).__name__}"
                raise ValueError(f"Trajectory row {index}: column {column!r} is {got}; it must be a list.")
        row = {**defaults, **row}
        if row["infos"] is None:
            row["infos"] = ["{}"] * len(row["actions"])
        if "return" not in row:
            try:
                row["return"] = float(sum(row["rewards"]))
            except TypeError:
                raise ValueError(f"Trajectory row {index}: column 'rewards' holds a non-number.") from None
        row.setdefault("length", len(row["actions"]))
        full.append({k: row[k] for k in TRAJECTORY_FEATURES})
    try:  # from_dict: from_list cannot build an empty dataset with a schema
        dataset = Dataset.from_dict({k: [row[k] for row in full] for k in TRAJECTORY_FEATURES}, TRAJECTORY_FEATURES)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ValueError(f"These rows do not fit the trajectory schema (TRAJECTORY_FEATURES): {exc}") from exc
    validate_trajectories(dataset)
    return dataset


# ---------------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class TrajectoryCounts:
    """What a validated dataset holds: rows, actions (behavioral-cloning targets), next observations (world-model
    targets) and rows cut before their final observation."""

    rows: int
    actions: int
    next_observations: int
    cut_rows: int


_STRING_LISTS = ("observations", "actions", "infos")
_NUMBER_LISTS = ("rewards",)


def validate_trajectories(dataset: Dataset, batch_size: int = 50_000) -> TrajectoryCounts:
    """Check a trajectory dataset (or a transition dataset from ``to_transitions``) and return what it holds.

    Raises ``ValueError`` naming the first bad row, its column and what is wrong (columns, types, list lengths,
    missing values, non-finite rewards/returns; see the module docstring for the schema and its one exception).
    Vectorised over Arrow batches (list lengths, flattened values), so it is cheap enough for every dataset."""
    columns = set(dataset.column_names)
    transitions = "next_observation" in columns
    required = ("observations", "actions") + (("action", "next_observation", "reward") if transitions else ("rewards",))
    missing = [c for c in required if c not in columns]
    if missing:
        kind = "transition" if transitions else "trajectory"
        raise ValueError(
            f"The {kind} dataset has no column(s) {missing} (columns: {sorted(columns)}). Build trajectories with "
            "mrlm_hf.collect_trajectories or trajectories_from_rows, transitions with to_transitions."
        )
    checked = [c for c in (*required, "infos", "return", "length") if c in columns]
    counts = np.zeros(4, dtype=np.int64)
    offset = 0
    for table in dataset.select_columns(checked).with_format("arrow").iter(batch_size=batch_size):
        counts += _validate_batch(table, offset, transitions)
        offset += table.num_rows
    return TrajectoryCounts(len(dataset), *(int(c) for c in counts[1:]))


def _fail(row: int, column: str, problem: str, bad_rows: int) -> None:
    others = f" ({bad_rows - 1} more row(s) have the same problem)" if bad_rows > 1 else ""
    raise ValueError(
        f"Trajectory row {row}: column {column!r} {problem}{others}. Fix or drop the row(s) "
        "(dataset.filter / dataset.select) before training; see mrlm_hf.data for the schema."
    )


def _first(mask: Any, offset: int, column: str, problem: str) -> None:
    """Raise for the first True of a boolean Arrow/NumPy mask (rows of a batch starting at ``offset``)."""
    mask = np.asarray(mask.to_numpy(zero_copy_only=False) if hasattr(mask, "to_numpy") else mask, dtype=bool)
    if mask.any():
        _fail(offset + int(np.argmax(mask)), column, problem, int(mask.sum()))


def _lengths(table: pa.Table, column: str, offset: int, value_kind: str) -> np.ndarray:
    array = table.column(column).combine_chunks()
    kind = array.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise ValueError(f"Column {column!r} has type {kind}; it must be a list of {value_kind}.")
    values = kind.value_type
    ok = (
        (pa.types.is_string(values) or pa.types.is_large_string(values))
        if value_kind == "strings"
        else (pa.types.is_floating(values) or pa.types.is_integer(values))
    )
    if not ok and not pa.types.is_null(values):
        raise ValueError(f"Column {column!r} holds {values} values; it must be a list of {value_kind}.")
    _first(array.is_null(), offset, column, "is missing (null)")
    flat = pc.list_flatten(array)
    if flat.null_count:
        parents = pc.list_parent_indices(array).to_numpy()
        _first_rows(
            parents[flat.is_null().to_numpy(zero_copy_only=False)], offset, column, "holds a missing (null) entry"
        )
    if value_kind == "numbers" and len(flat) and pa.types.is_floating(values):
        finite = pc.is_finite(flat).to_numpy(zero_copy_only=False)
        if not finite.all():
            parents = pc.list_parent_indices(array).to_numpy()
            _first_rows(parents[~finite], offset, column, "holds a NaN or infinite reward")
    return pc.list_value_length(array).to_numpy(zero_copy_only=False).astype(np.int64)


def _first_rows(rows: np.ndarray, offset: int, column: str, problem: str) -> None:
    if len(rows):
        _fail(offset + int(rows.min()), column, problem, len(np.unique(rows)))


def _validate_batch(table: pa.Table, offset: int, transitions: bool) -> np.ndarray:
    names = set(table.column_names)
    observations = _lengths(table, "observations", offset, "strings")
    actions = _lengths(table, "actions", offset, "strings")
    if transitions:  # a step: its history (o_0..o_k, a_0..a_{k-1}), the action a_k and o_{k+1}
        _first(
            observations != actions + 1,
            offset,
            "observations",
            "must have one entry more than 'actions' (the history o_0..o_k before the step's action)",
        )
        for column, number in (("action", False), ("next_observation", False), ("reward", True)):
            array = table.column(column).combine_chunks()
            _first(array.is_null(), offset, column, "is missing (null)")
            if number:
                _scalar_finite(array, offset, column)
        counts = [table.num_rows, table.num_rows, table.num_rows, 0]
    else:
        rewards = _lengths(table, "rewards", offset, "numbers")
        cut = (observations == actions) & (actions > 0)
        _first(
            (observations != actions + 1) & ~cut,
            offset,
            "observations",
            "must have one entry more than 'actions' (o_0, a_0, o_1, ..., a_{T-1}, o_T), or as many for an episode "
            "cut before its final observation; "
            + _pair_text(observations, actions, (observations != actions + 1) & ~cut),
        )
        _first(
            rewards != actions,
            offset,
            "rewards",
            "must have one entry per action; " + _pair_text(rewards, actions, rewards != actions, "rewards"),
        )
        if "infos" in names:
            infos = _lengths(table, "infos", offset, "strings")
            _first(
                infos != actions,
                offset,
                "infos",
                "must have one entry per action; " + _pair_text(infos, actions, infos != actions, "infos"),
            )
        if "length" in names:
            length = table.column("length").to_numpy(zero_copy_only=False)
            _first(length != actions, offset, "length", "must equal the number of actions")
        counts = [table.num_rows, int(actions.sum()), int(np.minimum(observations - 1, actions).sum()), int(cut.sum())]
    if "return" in names:
        _scalar_finite(table.column("return").combine_chunks(), offset, "return")
    return np.asarray(counts, dtype=np.int64)


def _pair_text(got: np.ndarray, actions: np.ndarray, mask: np.ndarray, name: str = "observations") -> str:
    i = int(np.argmax(mask)) if mask.any() else 0
    return f"it has {int(got[i])} {name} for {int(actions[i])} actions"


def _scalar_finite(array: pa.Array, offset: int, column: str) -> None:
    _first(array.is_null(), offset, column, "is missing (null)")
    if pa.types.is_floating(array.type):
        _first(pc.invert(pc.is_finite(array)), offset, column, "is NaN or infinite")
    elif not pa.types.is_integer(array.type):
        raise ValueError(f"Column {column!r} has type {array.type}; it must be a number.")


# ---------------------------------------------------------------------------------------------------- persistence
def save_trajectories(dataset: Dataset, path: str | os.PathLike, format: str | None = None) -> Path:
    """Save to ``path``: a directory (``arrow``, via ``save_to_disk``), ``*.parquet`` or ``*.jsonl``.

    The format follows the suffix unless given. To share on the Hub: ``dataset.push_to_hub("user/name")``."""
    path = Path(path)
    format = format or _format_of(path)
    if format == "arrow":  # an empty dataset needs one (empty) shard, or load_from_disk cannot read it back
        dataset.save_to_disk(str(path), num_shards=1 if len(dataset) == 0 else None)
    elif format == "parquet":
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(path))
    elif format == "jsonl":
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_json(str(path), lines=True, force_ascii=False)
    else:
        raise ValueError(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    return path


def read_saved_dataset(path: str | os.PathLike, format: str | None = None) -> Dataset | None:
    """Read a dataset written by ``save_trajectories`` (a directory, ``*.parquet`` or ``*.jsonl``) without checking
    its schema; ``None`` for an empty file. Trajectory columns get ``TRAJECTORY_FEATURES``. A truncated or corrupt
    file raises an error that names it and says how to recover."""
    path = Path(path)
    format = format or _format_of(path)
    if not path.exists():
        raise FileNotFoundError(f"No dataset at {path}.")
    if format == "arrow":
        loaded = load_from_disk(str(path))
        return loaded["train"] if isinstance(loaded, DatasetDict) else loaded
    builder = "parquet" if format == "parquet" else "json"
    if builder == "json" and not _first_line(path).strip():
        return None
    try:
        features = TRAJECTORY_FEATURES if _has_trajectory_columns(path, builder) else None
        if builder == "parquet" and pq.ParquetFile(str(path)).metadata.num_rows == 0:
            return None  # load_dataset cannot build a split from zero rows
        return load_dataset(builder, data_files=str(path), split="train", features=features)
    except Exception as exc:
        raise ValueError(
            f"Could not read {path} as {format} ({type(exc).__name__}: {exc}). The file is truncated or corrupt "
            "(e.g. cut by a crash or a full disk): write it again with save_trajectories, or, for a shard of "
            "collect_trajectories(shard_dir=...), delete it and rerun the same collection to replay its episodes."
        ) from exc


def load_trajectories(path: str | os.PathLike, format: str | None = None) -> Dataset:
    """Load what ``save_trajectories`` wrote (or any parquet/JSON-lines file with the schema's columns), validated
    (``validate_trajectories``). An empty file is an empty dataset with the schema. A string that is no local path
    but a Hub repo id (``user/name``) is downloaded (``mrlm_hf.hub.load_trajectories_from_hub``)."""
    from mrlm_hf.hub import is_hub_id, load_trajectories_from_hub

    if is_hub_id(path):
        return load_trajectories_from_hub(str(path))
    dataset = read_saved_dataset(path, format)
    if dataset is None:
        return trajectories_from_rows([])
    validate_trajectories(dataset)
    return dataset


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                return line
    return ""


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    return "arrow"


def _has_trajectory_columns(path: Path, builder: str) -> bool:
    if builder == "parquet":
        names = set(pq.read_schema(str(path)).names)
    else:
        first = _first_line(path)
        names = set(json.loads(first)) if first.strip() else set()
    return names == set(TRAJECTORY_FEATURES)


# ---------------------------------------------------------------------------------------------------- utilities
def filter_by_reward(dataset: Dataset, min_return: float) -> Dataset:
    """Keep trajectories (or transitions) whose episode ``return`` is at least ``min_return``."""
    if "return" not in dataset.column_names:
        raise ValueError(
            f"Filtering by reward needs a 'return' column; this dataset has {dataset.column_names}. Build it with "
            "collect_trajectories/trajectories_from_rows (which compute it), or do not filter by reward."
        )
    return dataset.filter(lambda r: [x >= min_return for x in r], input_columns="return", batched=True)


def to_transitions(dataset: Dataset) -> Dataset:
    """One row per step: the history (``observations`` up to the current one, past ``actions``), the ``action``,
    the ``next_observation``, its ``reward`` and whether the episode ended there (``done``).

    The input is validated first. The last action of an episode cut before its final observation has no next
    observation and gets no row (a transition is a complete ``(o, a, o')``; its action still trains from the
    trajectory dataset)."""
    counts = validate_trajectories(dataset)
    if counts.cut_rows:
        logger.warning(
            "%d trajectories end without their final observation: their last action has no transition.",
            counts.cut_rows,
        )

    def explode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in TRANSITION_FEATURES}
        for i in range(len(batch["actions"])):
            observations, actions, rewards = batch["observations"][i], batch["actions"][i], batch["rewards"][i]
            for k, action in enumerate(actions):
                if k + 1 >= len(observations):  # cut before its final observation: no next observation
                    break
                last = k == len(actions) - 1
                out["env_name"].append(batch["env_name"][i])
                out["seed"].append(batch["seed"][i])
                out["agent_id"].append(batch["agent_id"][i])
                out["step"].append(k)
                out["system_prompt"].append(batch["system_prompt"][i])
                out["observations"].append(observations[: k + 1])
                out["actions"].append(actions[:k])
                out["action"].append(action)
                out["next_observation"].append(observations[k + 1])
                out["reward"].append(rewards[k])
                out["done"].append(last and (batch["terminated"][i] or batch["truncated"][i]))
                out["terminated"].append(last and batch["terminated"][i])
                out["truncated"].append(last and batch["truncated"][i])
                out["return"].append(batch["return"][i])
        return out

    return dataset.map(explode, batched=True, remove_columns=dataset.column_names, features=TRANSITION_FEATURES)


def truncate_history(transitions: Dataset, history: int) -> Dataset:
    """Keep only the last ``history`` observations of each transition's history (and the actions between them).

    For an environment whose observation is its whole state (Markov: gridworld renders the full grid and
    position every step), the next observation depends only on the last observation and the action, so a world
    model needs no more context. A bounded history gives every step the same context length, so a model trained on
    short expert episodes is not scored on histories longer than any it saw (held-out random-policy episodes run
    to ``max_turns``). Train and evaluate with the same ``history`` (``evaluate_world_model(history=...)``,
    ``ModelPredictor(history=...)``). The ``step`` column keeps the original step number."""
    check_history(history, optional=False)
    missing = {"observations", "actions", "next_observation"} - set(transitions.column_names)
    if missing:
        raise ValueError(
            f"truncate_history needs a transition dataset (to_transitions, collect_branches); columns "
            f"{sorted(missing)} are missing."
        )

    def cut(observations: list[list[str]], actions: list[list[str]]) -> dict[str, list]:
        return {
            "observations": [o[-history:] for o in observations],
            "actions": [a[len(a) - min(len(a), history - 1) :] for a in actions],
        }

    return transitions.map(cut, input_columns=["observations", "actions"], batched=True)


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
