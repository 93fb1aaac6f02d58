"""The trajectory dataset: schema, persistence in every format, and the utilities."""

from __future__ import annotations

import math

import pytest
from conftest import toy_rows
from datasets import Dataset

from mrlm_hf import (
    TRAJECTORY_FEATURES,
    filter_by_reward,
    load_trajectories,
    save_trajectories,
    split_trajectories,
    to_transitions,
    trajectories_from_rows,
    trajectory_stats,
)
from mrlm_hf.data import TrajectoryCounts, validate_trajectories


@pytest.mark.parametrize("name", ["trajectories", "trajectories.parquet", "trajectories.jsonl"])
def test_round_trip_through_every_format(tmp_path, toy_dataset, name):
    path = save_trajectories(toy_dataset, tmp_path / name)
    loaded = load_trajectories(path)
    assert loaded.features == TRAJECTORY_FEATURES
    assert loaded.to_list() == toy_dataset.to_list()


def test_loading_a_missing_path_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        load_trajectories(tmp_path / "nothing-here")


def test_filter_by_reward_keeps_returns_at_or_above_threshold():
    rows = toy_rows(6)
    for i, row in enumerate(rows):
        row["rewards"] = [0.0, i / 5]
    dataset = trajectories_from_rows(rows)
    kept = filter_by_reward(dataset, 0.6)
    assert sorted(kept["seed"]) == [3, 4, 5]


def test_transitions_view_has_one_row_per_step():
    dataset = trajectories_from_rows(toy_rows(3, steps=2))
    transitions = to_transitions(dataset)
    assert len(transitions) == 6
    first, second = transitions[0], transitions[1]
    assert first["observations"] == [dataset[0]["observations"][0]] and first["actions"] == []
    assert first["next_observation"] == dataset[0]["observations"][1] and not first["done"]
    assert second["actions"] == [dataset[0]["actions"][0]] and second["action"] == dataset[0]["actions"][1]
    assert second["done"] and second["terminated"] and second["reward"] == 1.0


def test_split_and_stats():
    rows = toy_rows(20)
    for row in rows[:5]:
        row["success"] = False
        row["rewards"] = [0.0, 0.0]
    dataset = trajectories_from_rows(rows)
    stats = trajectory_stats(dataset)
    assert stats == {"num_trajectories": 20, "success_rate": 0.75, "mean_return": 0.75, "mean_length": 2.0}
    splits = split_trajectories(dataset, test_size=0.25, seed=0)
    assert len(splits["train"]) == 15 and len(splits["test"]) == 5
    assert not set(splits["train"]["seed"]) & set(splits["test"]["seed"])


# ---------------------------------------------------------------------------------------------------- validation
def _bad(column_change):
    rows = toy_rows(6)
    column_change(rows[4])
    return rows


BAD_ROWS = [
    (  # the example: 2 observations for 3 actions
        lambda r: r.update(observations=r["observations"][:2], actions=[*r["actions"], "x"], rewards=[0.0] * 3),
        "'observations' .* 2 observations for 3 actions",
    ),
    (lambda r: r.update(observations=r["observations"][:1]), "'observations' .* 1 observations for 2 actions"),
    (lambda r: r.update(observations=[], actions=[], rewards=[]), "'observations' .* 0 observations for 0 actions"),
    (lambda r: r.update(rewards=[1.0]), "'rewards' .* 1 rewards for 2 actions"),
    (lambda r: r.update(infos=["{}"] * 3), "'infos' .* 3 infos for 2 actions"),
    (lambda r: r.update(rewards=[0.0, math.nan]), "'rewards' holds a NaN or infinite reward"),
    (lambda r: r.update(rewards=[math.inf, 0.0]), "'rewards' holds a NaN or infinite reward"),
    (lambda r: r.update({"return": math.nan}), "'return' is NaN or infinite"),
    (lambda r: r.update(length=5), "'length' must equal the number of actions"),
    (lambda r: r.update(observations=["a", None, "c"]), "'observations' holds a missing"),
]


@pytest.mark.parametrize("change,message", BAD_ROWS)
def test_bad_rows_are_refused_when_built_and_when_loaded(tmp_path, change, message):
    rows = _bad(change)
    with pytest.raises(ValueError, match=f"row 4: column {message}"):
        trajectories_from_rows(rows)
    full = trajectories_from_rows(toy_rows(6)).to_list()
    full[4].update(rows[4])
    raw = Dataset.from_list(full, features=TRAJECTORY_FEATURES)  # no validation here
    for name in ("data.parquet", "data.jsonl", "data"):
        path = save_trajectories(raw, tmp_path / name)
        expected = message.split(" ")[0] if name.endswith("jsonl") else message  # JSON writes NaN/inf as null
        with pytest.raises(ValueError, match=f"row 4: column {expected}"):
            load_trajectories(path)
    with pytest.raises(ValueError, match=f"row 4: column {message}"):
        to_transitions(raw)


def test_validation_names_rows_beyond_the_first_batch():
    rows = trajectories_from_rows(toy_rows(30)).to_list()
    rows[23]["rewards"] = [0.0, math.nan]
    dataset = Dataset.from_list(rows, features=TRAJECTORY_FEATURES)
    with pytest.raises(ValueError, match="row 23: column 'rewards'"):
        validate_trajectories(dataset, batch_size=7)
    with pytest.raises(ValueError, match="row 13: column 'rewards'"):
        validate_trajectories(dataset.select(range(10, 30)), batch_size=4)  # indices of the selection


def test_missing_or_mistyped_columns_are_named():
    with pytest.raises(ValueError, match=r"row 0: column 'actions' is missing"):
        trajectories_from_rows([{"observations": ["o"], "rewards": []}])
    with pytest.raises(ValueError, match=r"no column\(s\) \['rewards'\]"):
        validate_trajectories(Dataset.from_dict({"observations": [["o"]], "actions": [[]]}))
    with pytest.raises(ValueError, match="'actions' holds int64 values; it must be a list of strings"):
        validate_trajectories(Dataset.from_dict({"observations": [["o", "p"]], "actions": [[1]], "rewards": [[0.0]]}))


def test_cut_episode_is_the_one_allowed_exception():
    rows = toy_rows(2, steps=3)
    rows[0]["observations"] = rows[0]["observations"][:3]  # o_0 a_0 o_1 a_1 o_2 a_2: final observation missing
    dataset = trajectories_from_rows(rows)
    counts = validate_trajectories(dataset)
    assert counts == TrajectoryCounts(rows=2, actions=6, next_observations=5, cut_rows=1)
    transitions = to_transitions(dataset)
    assert len(transitions) == 5 and transitions["seed"] == [0, 0, 1, 1, 1]  # no transition without o_3
    assert "" not in transitions["next_observation"]
    assert validate_trajectories(transitions).rows == 5


def test_bad_transitions_are_refused():
    transitions = to_transitions(trajectories_from_rows(toy_rows(3))).to_list()
    transitions[2]["observations"] = []
    with pytest.raises(ValueError, match="row 2: column 'observations' must have one entry more than 'actions'"):
        validate_trajectories(Dataset.from_list(transitions))
    transitions[2]["observations"] = ["o"]
    transitions[1]["reward"] = math.inf
    with pytest.raises(ValueError, match="row 1: column 'reward' is NaN or infinite"):
        validate_trajectories(Dataset.from_list(transitions))


def test_empty_datasets_keep_the_schema_in_every_format(tmp_path):
    empty = trajectories_from_rows([])
    assert len(empty) == 0 and empty.features == TRAJECTORY_FEATURES
    for name in ("e.parquet", "e.jsonl", "e"):
        loaded = load_trajectories(save_trajectories(empty, tmp_path / name))
        assert len(loaded) == 0 and loaded.features == TRAJECTORY_FEATURES
    (tmp_path / "blank.jsonl").write_text("\n")
    assert len(load_trajectories(tmp_path / "blank.jsonl")) == 0


def test_corrupt_parquet_names_the_file_and_the_recovery(tmp_path, toy_dataset):
    path = save_trajectories(toy_dataset, tmp_path / "cut.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.parquet.*truncated or corrupt.*delete it and rerun"):
        load_trajectories(path)


def test_reward_filter_needs_a_return_column(toy_dataset):
    with pytest.raises(ValueError, match="needs a 'return' column"):
        filter_by_reward(toy_dataset.remove_columns("return"), 0.5)
