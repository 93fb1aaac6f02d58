"""mrlm_hf: text environments -> trajectory datasets -> behavioral-cloning and world-model training on TRL.

Data flow, one module each: ``envs`` (reset/step, experts) -> ``rollout`` (policies in lockstep) ->
``data`` (the trajectory ``datasets.Dataset``) -> ``tokenize`` (one chat rendering, a type per token) ->
``collator`` (padded or padding-free batches with token types) -> ``trainer`` (weighted NLL per objective) ->
``evaluation`` (play the environments, score the world model).

The package is lazy (PEP 562): ``import mrlm_hf`` and ``mrlm_hf.envs`` / ``mrlm_hf.sandbox`` load no torch,
transformers, trl or datasets; a name below is imported from its module on first access. To export a new name,
add it to ``_EXPORTS`` (name -> module), to ``__all__`` and to the ``TYPE_CHECKING`` block (for IDEs and type
checkers).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access).
_EXPORTS: dict[str, str] = {
    "TrajectorySFTConfig": "mrlm_hf.config",
    "TRAJECTORY_FEATURES": "mrlm_hf.data",
    "TRANSITION_FEATURES": "mrlm_hf.data",
    "filter_by_reward": "mrlm_hf.data",
    "load_trajectories": "mrlm_hf.data",
    "save_trajectories": "mrlm_hf.data",
    "split_trajectories": "mrlm_hf.data",
    "to_transitions": "mrlm_hf.data",
    "trajectories_from_rows": "mrlm_hf.data",
    "trajectory_stats": "mrlm_hf.data",
    "validate_trajectories": "mrlm_hf.data",
    "TextEnv": "mrlm_hf.envs",
    "list_envs": "mrlm_hf.envs",
    "make_env": "mrlm_hf.envs",
    "register_env": "mrlm_hf.envs",
    "evaluate_policy": "mrlm_hf.evaluation",
    "evaluate_world_model": "mrlm_hf.evaluation",
    "ExpertPolicy": "mrlm_hf.policies",
    "OpenAIPolicy": "mrlm_hf.policies",
    "Policy": "mrlm_hf.policies",
    "RandomPolicy": "mrlm_hf.policies",
    "TransformersPolicy": "mrlm_hf.policies",
    "PREFERENCE_FEATURES": "mrlm_hf.preferences",
    "TrajectoryDPOTrainer": "mrlm_hf.preferences",
    "build_preference_pairs": "mrlm_hf.preferences",
    "collect_preference_pairs": "mrlm_hf.preferences",
    "load_preference_pairs": "mrlm_hf.preferences",
    "save_preference_pairs": "mrlm_hf.preferences",
    "EnvGRPOConfig": "mrlm_hf.rl",
    "EnvGRPOTrainer": "mrlm_hf.rl",
    "EnvReward": "mrlm_hf.rl",
    "EnvRLOOConfig": "mrlm_hf.rl",
    "EnvRLOOTrainer": "mrlm_hf.rl",
    "MultiTurnRollout": "mrlm_hf.rl",
    "env_prompt_dataset": "mrlm_hf.rl",
    "collect_trajectories": "mrlm_hf.rollout",
    "ACTION": "mrlm_hf.tokenize",
    "CONTEXT": "mrlm_hf.tokenize",
    "OBSERVATION": "mrlm_hf.tokenize",
    "build_example": "mrlm_hf.tokenize",
    "tokenize_trajectories": "mrlm_hf.tokenize",
    "TrajectorySFTTrainer": "mrlm_hf.trainer",
    "collect_branches": "mrlm_hf.branches",
    "LookaheadPolicy": "mrlm_hf.planning",
    "hindsight_relabel": "mrlm_hf.relabel",
    "mix_trajectories": "mrlm_hf.mixtures",
    "evaluate_per_environment": "mrlm_hf.mixtures",
    "ModelPredictor": "mrlm_hf.simulator",
    "WorldModelEnv": "mrlm_hf.simulator",
}

# The same names as ``_EXPORTS`` (a test checks it), written out for linters and type checkers.
__all__ = [
    "ACTION",
    "CONTEXT",
    "OBSERVATION",
    "PREFERENCE_FEATURES",
    "TRAJECTORY_FEATURES",
    "TRANSITION_FEATURES",
    "EnvGRPOConfig",
    "EnvGRPOTrainer",
    "EnvRLOOConfig",
    "EnvRLOOTrainer",
    "EnvReward",
    "ExpertPolicy",
    "LookaheadPolicy",
    "ModelPredictor",
    "MultiTurnRollout",
    "OpenAIPolicy",
    "Policy",
    "RandomPolicy",
    "TextEnv",
    "TrajectoryDPOTrainer",
    "TrajectorySFTConfig",
    "TrajectorySFTTrainer",
    "TransformersPolicy",
    "WorldModelEnv",
    "build_example",
    "build_preference_pairs",
    "collect_branches",
    "collect_preference_pairs",
    "collect_trajectories",
    "env_prompt_dataset",
    "evaluate_per_environment",
    "evaluate_policy",
    "evaluate_world_model",
    "filter_by_reward",
    "hindsight_relabel",
    "list_envs",
    "load_preference_pairs",
    "load_trajectories",
    "make_env",
    "mix_trajectories",
    "register_env",
    "save_preference_pairs",
    "save_trajectories",
    "split_trajectories",
    "to_transitions",
    "tokenize_trajectories",
    "trajectories_from_rows",
    "trajectory_stats",
    "validate_trajectories",
]

if TYPE_CHECKING:  # what a type checker or IDE sees; at run time ``__getattr__`` imports these on demand
    from mrlm_hf.branches import collect_branches
    from mrlm_hf.config import TrajectorySFTConfig
    from mrlm_hf.data import (
        TRAJECTORY_FEATURES,
        TRANSITION_FEATURES,
        filter_by_reward,
        load_trajectories,
        save_trajectories,
        split_trajectories,
        to_transitions,
        trajectories_from_rows,
        trajectory_stats,
        validate_trajectories,
    )
    from mrlm_hf.envs import TextEnv, list_envs, make_env, register_env
    from mrlm_hf.evaluation import evaluate_policy, evaluate_world_model
    from mrlm_hf.mixtures import evaluate_per_environment, mix_trajectories
    from mrlm_hf.planning import LookaheadPolicy
    from mrlm_hf.policies import ExpertPolicy, OpenAIPolicy, Policy, RandomPolicy, TransformersPolicy
    from mrlm_hf.preferences import (
        PREFERENCE_FEATURES,
        TrajectoryDPOTrainer,
        build_preference_pairs,
        collect_preference_pairs,
        load_preference_pairs,
        save_preference_pairs,
    )
    from mrlm_hf.relabel import hindsight_relabel
    from mrlm_hf.rl import (
        EnvGRPOConfig,
        EnvGRPOTrainer,
        EnvReward,
        EnvRLOOConfig,
        EnvRLOOTrainer,
        MultiTurnRollout,
        env_prompt_dataset,
    )
    from mrlm_hf.rollout import collect_trajectories
    from mrlm_hf.simulator import ModelPredictor, WorldModelEnv
    from mrlm_hf.tokenize import ACTION, CONTEXT, OBSERVATION, build_example, tokenize_trajectories
    from mrlm_hf.trainer import TrajectorySFTTrainer


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first access (and cache it in this module); a public submodule
    (``mrlm_hf.data``, ...) is imported on first access too, as the eager package allowed."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
