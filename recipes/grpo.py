"""Reinforcement learning on an environment with TRL's GRPOTrainer: multi-turn episodes, group-relative returns.

    accelerate launch recipes/grpo.py --config recipes/configs/grpo.yaml
    python recipes/grpo.py                                   # embedded default: offline, CPU, about a minute
    python recipes/grpo.py --model_name_or_path outputs/sft-default   # RL from a saved SFT model
    python recipes/rloo.py                                   # the same run with TRL's RLOOTrainer (single-turn)

Reads top to bottom: arguments -> one prompt row per environment seed -> model and tokenizer -> held-out success
before training -> EnvGRPOTrainer (or EnvRLOOTrainer) -> held-out success after -> save model, tokenizer, summary.
Every field can be set in the YAML file or as a command-line flag (TrlParser): they mean the same thing; the model,
LoRA/QLoRA and Accelerate options are those of recipes/sft.py. With no ``--model_name_or_path``, a tiny
Qwen2-architecture model and a tokenizer trained on expert trajectories are built locally (no download).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental in TRL 1.16

from accelerate import PartialState  # noqa: E402
from trl import ModelConfig, TrlParser, get_peft_config  # noqa: E402

from mrlm_hf import ExpertPolicy, collect_trajectories, evaluate_policy, load_trajectories  # noqa: E402
from mrlm_hf.callbacks import LearningCurveCallback, PeriodicEnvironmentEvaluationCallback  # noqa: E402
from mrlm_hf.models import (  # noqa: E402
    RecipeArguments,
    add_time_limit,
    end_processes,
    load_model_and_tokenizer,
    save_trained_model,
    trajectory_texts,
    untrained_start_note,
)
from mrlm_hf.rl import (  # noqa: E402
    EnvGRPOConfig,
    EnvGRPOTrainer,
    EnvReward,
    EnvRLOOConfig,
    EnvRLOOTrainer,
    env_prompt_dataset,
)


@dataclass
class RLArguments(RecipeArguments):
    """Which environment the policy plays, which seeds it trains on, and how it is evaluated."""

    env_name: str = field(default="math", metadata={"help": "Registered environment (mrlm_hf.envs.list_envs())."})
    env_kwargs: str = field(
        default='{"difficulty": 1, "max_turns": 2}',
        metadata={"help": "JSON object (or YAML mapping) of environment constructor arguments."},
    )
    num_prompts: int = field(default=64, metadata={"help": "Training tasks: environment seeds prompt_seed + i."})
    prompt_seed: int = field(default=0, metadata={"help": "First training seed."})
    eval_episodes: int = field(
        default=16, metadata={"help": "Held-out episodes (seeds from 1,000,000) before and after training; 0: none."}
    )
    eval_every: int = field(
        default=0,
        metadata={
            "help": "Also play the eval_episodes held-out episodes every N optimizer steps (logged as "
            "eval_env_success_rate and drawn in learning_curve.png with the rollout reward); 0: before and after only."
        },
    )
    sft_dataset_path: str | None = field(
        default=None, metadata={"help": "Demonstrations for sft_weight (save_trajectories output)."}
    )
    sft_episodes: int = field(
        default=128,
        metadata={"help": "Without sft_dataset_path: expert episodes collected for sft_weight and the tiny tokenizer."},
    )


# Defaults of the embedded run; a YAML file or flags override any of them.
RECIPE_DEFAULTS = {
    "output_dir": "outputs/grpo-default",
    "max_steps": 6,
    "per_device_train_batch_size": 8,
    "num_generations": 4,
    "max_completion_length": 64,
    "max_turn_tokens": 16,
    "learning_rate": 1e-4,
    "logging_steps": 1,
    "save_strategy": "no",
    "activation_checkpointing": False,
    "report_to": "none",
    "bf16": None,
}


def held_out_success(model, tokenizer, rl_args: RLArguments, env_kwargs: dict, max_new_tokens: int) -> dict:
    if rl_args.eval_episodes <= 0:
        return {}
    stats = evaluate_policy(
        model,
        rl_args.env_name,
        rl_args.eval_episodes,
        tokenizer=tokenizer,
        env_kwargs=env_kwargs,
        progress=False,
        max_new_tokens=max_new_tokens,
    )
    return {k: stats[k] for k in ("success_rate", "mean_return") if k in stats}


def main(rl_args: RLArguments, args: EnvGRPOConfig | EnvRLOOConfig, model_args: ModelConfig) -> dict:
    start = time.time()
    state = PartialState(cpu=args.use_cpu)
    env_kwargs = rl_args.env_kwargs if isinstance(rl_args.env_kwargs, dict) else json.loads(rl_args.env_kwargs)
    rloo = isinstance(args, EnvRLOOConfig)

    # 1. Tasks: one row per environment seed (TRL repeats each num_generations times: one group per task).
    prompts = env_prompt_dataset(rl_args.env_name, rl_args.num_prompts, seed=rl_args.prompt_seed, env_kwargs=env_kwargs)
    if rl_args.sft_dataset_path:
        demonstrations = load_trajectories(rl_args.sft_dataset_path)
    else:
        with state.main_process_first():
            demonstrations = collect_trajectories(
                rl_args.env_name, ExpertPolicy(), rl_args.sft_episodes, env_kwargs=env_kwargs, progress=False
            )

    # 2. Model and tokenizer.
    model, tokenizer = load_model_and_tokenizer(
        model_args,
        rl_args,
        lambda: trajectory_texts(demonstrations),
        seed=args.seed,
        output_dir=args.output_dir,
        state=state,
        needs_path=bool(args.beta),  # TRL builds the KL reference model from the model's path
    )
    turn_tokens = (None if rloo else args.max_turn_tokens) or args.max_completion_length
    before = held_out_success(model, tokenizer, rl_args, env_kwargs, turn_tokens) if state.is_main_process else {}

    # 3. Train: GRPO on whole episodes (optionally with the behavioral-cloning regulariser), or single-turn RLOO.
    if rloo:
        trainer = EnvRLOOTrainer(
            model,
            reward_funcs=[EnvReward()],
            args=args,
            train_dataset=prompts,
            processing_class=tokenizer,
            peft_config=get_peft_config(model_args),
        )
    else:
        trainer = EnvGRPOTrainer(
            model,
            args,
            prompts,
            tokenizer,
            sft_dataset=demonstrations if args.sft_weight > 0 else None,
            peft_config=get_peft_config(model_args),
        )
    trainer.add_callback(LearningCurveCallback())
    if rl_args.eval_every > 0 and rl_args.eval_episodes > 0:
        trainer.add_callback(
            PeriodicEnvironmentEvaluationCallback(
                trainer, rl_args.env_name, env_kwargs, rl_args.eval_episodes, rl_args.eval_every, turn_tokens
            )
        )
    add_time_limit(trainer, rl_args)  # --max_train_seconds
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)

    # 4. Held-out success after training; save model (full state dict under FSDP) and tokenizer.
    save_trained_model(trainer, tokenizer, args.output_dir)
    rewards = [h[k] for h in trainer.state.log_history for k in h if k == "reward"]
    summary = {
        "output_dir": str(Path(args.output_dir).resolve()),
        "trainer": "rloo" if rloo else "grpo",
        "env_name": rl_args.env_name,
        "env_kwargs": env_kwargs,
        "num_prompts": rl_args.num_prompts,
        "max_steps": args.max_steps,
        "steps_done": trainer.state.global_step,
        "sft_weight": 0.0 if rloo else args.sft_weight,
        "first_reward": rewards[0] if rewards else None,
        "last_reward": rewards[-1] if rewards else None,
        "success_curve": [
            [h["step"], h["eval_env_success_rate"]] for h in trainer.state.log_history if "eval_env_success_rate" in h
        ],
        "note": untrained_start_note(model_args, "RLOO" if rloo else "GRPO"),
    }
    if state.is_main_process:
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        after = held_out_success(unwrapped, tokenizer, rl_args, env_kwargs, turn_tokens)
        summary.update({f"before_{k}": v for k, v in before.items()})
        summary.update({f"after_{k}": v for k, v in after.items()})
        summary["wall_time_s"] = round(time.time() - start, 1)
        tokenizer.save_pretrained(args.output_dir)
        (Path(args.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
        (Path(args.output_dir) / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        print(json.dumps(summary, indent=2))
        if summary["note"]:
            print(summary["note"])
    return summary


def make_parser(config_class=EnvGRPOConfig, defaults: dict | None = None) -> TrlParser:
    parser = TrlParser((RLArguments, config_class, ModelConfig))
    parser.set_defaults(**(RECIPE_DEFAULTS if defaults is None else defaults))
    return parser


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
    end_processes()
