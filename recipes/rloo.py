"""Single-turn RL on an environment with TRL's RLOOTrainer (leave-one-out baseline over each task's samples).

    accelerate launch recipes/rloo.py --config recipes/configs/grpo_rloo.yaml
    python recipes/rloo.py                     # embedded default: offline, CPU

The same arguments and steps as recipes/grpo.py, with ``RLOOConfig`` fields: TRL's RLOOTrainer generates one
completion per sample itself (it has no rollout hook), so an episode is one action, scored by
``mrlm_hf.rl.EnvReward`` (a fresh environment at the row's seed, stepped once). Multi-turn episodes: recipes/grpo.py.
"""

from __future__ import annotations

from grpo import RECIPE_DEFAULTS, main, make_parser

from mrlm_hf.models import end_processes
from mrlm_hf.rl import EnvRLOOConfig

RLOO_DEFAULTS = {
    **{k: v for k, v in RECIPE_DEFAULTS.items() if k != "max_turn_tokens"},
    "output_dir": "outputs/rloo-default",
    "max_completion_length": 24,
    "env_kwargs": '{"difficulty": 1, "max_turns": 1}',
}

if __name__ == "__main__":
    main(*make_parser(EnvRLOOConfig, RLOO_DEFAULTS).parse_args_and_config())
    end_processes()
