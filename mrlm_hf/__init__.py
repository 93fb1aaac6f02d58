"""mrlm_hf: text environments -> trajectory datasets -> behavioral-cloning and world-model training on TRL.

Data flow, one module each: ``envs`` (reset/step, experts) -> ``rollout`` (policies in lockstep) ->
``data`` (the trajectory ``datasets.Dataset``) -> ``tokenize`` (one chat rendering, a type per token) ->
``collator`` (padded or padding-free batches with token types) -> ``trainer`` (weighted NLL per objective) ->
``evaluation`` (play the environments, score the world model).
"""

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
from mrlm_hf.policies import ExpertPolicy, OpenAIPolicy, Policy, RandomPolicy, TransformersPolicy
from mrlm_hf.preferences import (
    PREFERENCE_FEATURES,
    TrajectoryDPOTrainer,
    build_preference_pairs,
    collect_preference_pairs,
    load_preference_pairs,
    save_preference_pairs,
)
from mrlm_hf.rl import EnvGRPOConfig, EnvGRPOTrainer, EnvReward, EnvRLOOConfig, MultiTurnRollout, env_prompt_dataset
from mrlm_hf.rollout import collect_trajectories
from mrlm_hf.tokenize import ACTION, CONTEXT, OBSERVATION, build_example, tokenize_trajectories
from mrlm_hf.trainer import TrajectorySFTTrainer

__version__ = "0.1.0"

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
    "EnvReward",
    "ExpertPolicy",
    "MultiTurnRollout",
    "OpenAIPolicy",
    "Policy",
    "RandomPolicy",
    "TextEnv",
    "TrajectoryDPOTrainer",
    "TrajectorySFTConfig",
    "TrajectorySFTTrainer",
    "TransformersPolicy",
    "build_example",
    "build_preference_pairs",
    "collect_preference_pairs",
    "collect_trajectories",
    "env_prompt_dataset",
    "evaluate_policy",
    "evaluate_world_model",
    "filter_by_reward",
    "list_envs",
    "load_preference_pairs",
    "load_trajectories",
    "make_env",
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
