"""The trajectory dataset: schema, persistence in every format, and the utilities."""

from __future__ import annotations

import pytest
from conftest import toy_rows

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
