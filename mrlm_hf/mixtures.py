"""Multi-task mixtures: train on several environments' trajectories with mixing weights, evaluate per environment.

``mix_trajectories({name: dataset}, {name: weight})`` interleaves the datasets with ``datasets.interleave_datasets``
(each row drawn from dataset ``name`` with probability ``weight / sum(weights)``, from a seeded generator), so the
mixture is an ordinary trajectory dataset that ``TrajectorySFTTrainer`` takes. ``stopping_strategy`` is
``interleave_datasets``'s: ``"all_exhausted"`` (the default here) keeps drawing until every dataset has been seen
once, repeating the ones that run out; ``"first_exhausted"`` stops at the first dataset that runs out.
``evaluate_per_environment`` plays held-out episodes in each environment (``evaluate_policy``) and reports success
per environment; ``stats_per_environment`` does the same for an existing trajectory dataset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from datasets import Dataset, interleave_datasets

from mrlm_hf.data import TRAJECTORY_FEATURES, trajectory_stats, validate_trajectories
from mrlm_hf.evaluation import evaluate_policy


def mix_trajectories(
    datasets: Mapping[str, Dataset],
    weights: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
    stopping_strategy: str = "all_exhausted",
) -> Dataset:
    """One trajectory dataset drawing from ``datasets`` with probabilities proportional to ``weights`` (equal when
    ``None``). Every dataset is validated; weights must name exactly the datasets and be finite, >= 0, not all 0."""
    if not datasets:
        raise ValueError("mix_trajectories needs at least one dataset.")
    names = list(datasets)
    weights = dict(weights) if weights is not None else {name: 1.0 for name in names}
    if set(weights) != set(names):
        raise ValueError(
            f"weights name {sorted(weights)} but the datasets are {sorted(names)}; give one weight per dataset."
        )
    for name in names:
        weight = weights[name]
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weights[{name!r}] is {weight!r}; weights must be finite numbers >= 0.")
        if len(datasets[name]) == 0:
            raise ValueError(f"Dataset {name!r} is empty; drop it from the mixture or collect trajectories for it.")
        try:
            validate_trajectories(datasets[name])
        except ValueError as exc:
            raise ValueError(f"Dataset {name!r}: {exc}") from exc
    total = sum(weights[name] for name in names)
    if total <= 0:
        raise ValueError("All mixing weights are 0; give at least one dataset a positive weight.")
    kept = [name for name in names if weights[name] > 0]
    parts = [_with_schema(datasets[name]) for name in kept]
    return interleave_datasets(
        parts,
        probabilities=[weights[name] / total for name in kept],
        seed=seed,
        stopping_strategy=stopping_strategy,
    )


def _with_schema(dataset: Dataset) -> Dataset:
    """Trajectory datasets with the schema's columns in one order and type (interleaving needs equal features)."""
    if set(dataset.column_names) == set(TRAJECTORY_FEATURES):
        dataset = dataset.select_columns(list(TRAJECTORY_FEATURES))
        return dataset if dataset.features == TRAJECTORY_FEATURES else dataset.cast(TRAJECTORY_FEATURES)
    return dataset


def stats_per_environment(trajectories: Dataset) -> dict[str, dict[str, float]]:
    """``trajectory_stats`` (success rate, mean return, mean length) for each ``env_name`` of ``trajectories``."""
    names = trajectories["env_name"]
    return {
        name: trajectory_stats(trajectories.select([i for i, n in enumerate(names) if n == name]))
        for name in sorted(set(names))
    }


def evaluate_per_environment(
    policy: Any,
    envs: Mapping[str, dict[str, Any]],
    episodes: int = 64,
    **kwargs: Any,
) -> dict[str, dict[str, float]]:
    """``evaluate_policy`` in each environment: ``envs`` maps a registry name to its constructor arguments; other
    keyword arguments (``tokenizer``, ``seed``, generation settings) go to every ``evaluate_policy`` call."""
    return {
        name: evaluate_policy(policy, name, episodes, env_kwargs=env_kwargs, **kwargs)
        for name, env_kwargs in envs.items()
    }
