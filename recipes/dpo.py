"""Train an agent with DPO on preference pairs built from environment rollouts.

    accelerate launch recipes/dpo.py --config recipes/configs/dpo.yaml
    python recipes/dpo.py                      # embedded default: offline, CPU, about a minute
    python recipes/dpo.py --model_name_or_path outputs/sft-default --sampling_policy model   # after recipes/sft.py

Reads top to bottom: arguments -> model and tokenizer -> preference pairs (sampled continuations at shared states,
``mrlm_hf.collect_preference_pairs``, or loaded with ``--dataset_path``) -> success on held-out seeds before ->
TrajectoryDPOTrainer (TRL's DPOTrainer, training exactly each action and its end-of-turn token) -> success after ->
save model, tokenizer, pairs and the sampled trajectories -> summary. Every field can be set in the YAML file or as a command-line flag
(TrlParser): they mean the same thing. With no ``--model_name_or_path``, a tiny Qwen2-architecture model and a
tokenizer trained on expert and random trajectories are built locally, so the default run needs no download.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from accelerate import PartialState  # noqa: E402
from trl import DPOConfig, ModelConfig, TrlParser, get_peft_config  # noqa: E402

from mrlm_hf import (  # noqa: E402
    ExpertPolicy,
    RandomPolicy,
    TrajectoryDPOTrainer,
    TransformersPolicy,
    collect_preference_pairs,
    collect_trajectories,
    evaluate_policy,
    load_preference_pairs,
    save_preference_pairs,
    save_trajectories,
)
from mrlm_hf.config import checkpointing_alias_field, resolve_activation_checkpointing  # noqa: E402
from mrlm_hf.evaluation import EVAL_SEED  # noqa: E402
from mrlm_hf.models import (  # noqa: E402
    RecipeArguments,
    add_time_limit,
    end_processes,
    load_model_and_tokenizer,
    save_trained_model,
    trajectory_texts,
    untrained_start_note,
)

POLICIES = ["model", "mixture", "random", "expert"]


@dataclass
class PreferenceArguments(RecipeArguments):
    """Where the preference pairs come from and how the trained policy is evaluated."""

    env_name: str = field(default="math", metadata={"help": "Registered environment (mrlm_hf.envs.list_envs())."})
    env_kwargs: str = field(
        default="{}", metadata={"help": "JSON object (or YAML mapping) of environment constructor arguments."}
    )
    num_states: int = field(default=128, metadata={"help": "Seeds to branch from (collection_seed, +1, ...)."})
    collection_seed: int = field(default=0, metadata={"help": "The first seed of the preference data."})
    samples_per_state: int = field(default=4, metadata={"help": "Continuations sampled at each state (>= 2)."})
    sampling_policy: str = field(
        default="mixture",
        metadata={
            "help": "Who plays the continuations: 'model' (the model being trained, sampled: on-policy DPO), "
            "'mixture' (per action, the expert with probability expert_probability, else random), 'random', "
            "'expert' (deterministic: no pairs alone).",
            "choices": POLICIES,
        },
    )
    expert_probability: float = field(default=0.5, metadata={"help": "With sampling_policy=mixture."})
    sampling_temperature: float = field(default=1.0, metadata={"help": "With sampling_policy=model."})
    reference_policy: str = field(
        default="expert",
        metadata={
            "help": "Who reaches the later states of branch_steps (replayed by seed + actions).",
            "choices": POLICIES,
        },
    )
    branch_steps: str = field(
        default="0", metadata={"help": "Comma-separated numbers of actions after which to branch (0: initial state)."}
    )
    min_return_gap: float = field(
        default=1e-6, metadata={"help": "A pair needs chosen_return - rejected_return > min_return_gap."}
    )
    max_pairs_per_state: int | None = field(default=None, metadata={"help": "Keep the largest gaps per state."})
    num_envs: int = field(default=64, metadata={"help": "Environments stepped in lockstep during collection."})
    collect_max_new_tokens: int = field(default=32, metadata={"help": "Tokens per action (model policies)."})
    dataset_path: str | None = field(
        default=None, metadata={"help": "Load preference pairs (save_preference_pairs output) instead of collecting."}
    )
    eval_fraction: float = field(default=0.1, metadata={"help": "Fraction of pairs held out for the DPO eval metrics."})
    eval_episodes: int = field(default=32, metadata={"help": "Held-out episodes (seeds from 1,000,000) before/after."})
    merge_lora: bool = field(
        default=False, metadata={"help": "With use_peft: also save the base model with the adapter merged, in merged/."}
    )


@dataclass
class RecipeDPOConfig(DPOConfig):
    """TRL's ``DPOConfig``; a deprecated ``gradient_checkpointing`` that disagrees with ``activation_checkpointing``
    (this recipe's default) is refused instead of dropped, as in mrlm_hf's own configs."""

    gradient_checkpointing: bool | None = checkpointing_alias_field()

    def __post_init__(self) -> None:
        resolve_activation_checkpointing(self, default=True)
        super().__post_init__()


# Defaults of the embedded run; a YAML file or flags override any of them.
RECIPE_DEFAULTS = {
    "output_dir": "outputs/dpo-default",
    "max_steps": 40,
    "per_device_train_batch_size": 16,
    "learning_rate": 5e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 4,
    "logging_steps": 5,
    "save_strategy": "no",
    "activation_checkpointing": False,
    "max_length": 512,
    "report_to": "none",
    "beta": 0.1,
    "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),  # DPOConfig's True fails on a CPU
}


class MixturePolicy:
    """Per conversation, one of ``policies`` drawn with ``weights`` from a seeded generator (diverse continuations
    from policies that are deterministic on their own)."""

    name = "mixture"

    def __init__(self, policies: Sequence[Any], weights: Sequence[float], seed: int = 0) -> None:
        self.policies, self.weights, self.rng = list(policies), list(weights), random.Random(seed)

    def __call__(self, conversations: list, envs: Sequence[Any] | None = None) -> list[str]:
        picks = self.rng.choices(range(len(self.policies)), weights=self.weights, k=len(conversations))
        actions: list[str] = [""] * len(conversations)
        for p, policy in enumerate(self.policies):
            rows = [i for i, pick in enumerate(picks) if pick == p]
            if rows:
                out = policy([conversations[i] for i in rows], [envs[i] for i in rows] if envs else None)
                for i, action in zip(rows, out):
                    actions[i] = action
        return actions


def make_policy(name: str, env_args: PreferenceArguments, model: Any, tokenizer: Any, seed: int) -> Any:
    if name == "model":
        return TransformersPolicy(
            model,
            tokenizer,
            max_new_tokens=env_args.collect_max_new_tokens,
            do_sample=True,
            temperature=env_args.sampling_temperature,
            seed=seed,
        )
    if name == "mixture":
        p = env_args.expert_probability
        return MixturePolicy([ExpertPolicy(), RandomPolicy(seed)], [p, 1.0 - p], seed=seed)
    return ExpertPolicy() if name == "expert" else RandomPolicy(seed)


def main(env_args: PreferenceArguments, args: RecipeDPOConfig, model_args: ModelConfig) -> dict:
    state = PartialState(cpu=args.use_cpu)  # the same process layout the Trainer will use
    env_kwargs = env_args.env_kwargs if isinstance(env_args.env_kwargs, dict) else json.loads(env_args.env_kwargs)
    branch_steps = [int(k) for k in str(env_args.branch_steps).split(",") if k.strip()]

    # 1. Model and tokenizer: a local/hub checkpoint (e.g. a previous stage's output_dir), or the tiny default.
    def corpus() -> list[str]:  # the tiny default's tokenizer learns from expert and random play
        seeds = {"seed": env_args.collection_seed, "env_kwargs": env_kwargs, "progress": False}
        expert = collect_trajectories(env_args.env_name, ExpertPolicy(), 256, **seeds)
        return trajectory_texts(expert, collect_trajectories(env_args.env_name, RandomPolicy(args.seed), 256, **seeds))

    model, tokenizer = load_model_and_tokenizer(
        model_args, env_args, corpus, seed=args.seed, output_dir=args.output_dir, state=state
    )
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        model.to(state.device)

    # 2. Preference pairs: load them, or sample continuations at shared states and pair them by return.
    trajectories = None  # the sampled trajectories behind the pairs (metadata's chosen_rows/rejected_rows index them)
    if env_args.dataset_path:
        pairs = load_preference_pairs(env_args.dataset_path)
    else:
        policy = make_policy(env_args.sampling_policy, env_args, model, tokenizer, args.seed)
        reference = make_policy(env_args.reference_policy, env_args, model, tokenizer, args.seed + 1)
        with state.main_process_first():  # the same seeds on every rank
            pairs, trajectories = collect_preference_pairs(
                env_args.env_name,
                policy,
                range(env_args.collection_seed, env_args.collection_seed + env_args.num_states),
                samples_per_state=env_args.samples_per_state,
                env_kwargs=env_kwargs,
                reference_policy=reference if any(k > 0 for k in branch_steps) else None,
                branch_steps=branch_steps,
                min_return_gap=env_args.min_return_gap,
                max_pairs_per_state=env_args.max_pairs_per_state,
                num_envs=env_args.num_envs,
                progress=state.is_main_process,
                return_trajectories=True,
            )
    if len(pairs) < 2:
        raise SystemExit(
            f"Only {len(pairs)} preference pairs: the continuations' returns (almost) never differ. Use a sampling "
            "policy that varies (--sampling_policy model/mixture/random), more --samples_per_state or --num_states, "
            "or a smaller --min_return_gap."
        )
    splits = pairs.train_test_split(test_size=env_args.eval_fraction, seed=args.seed)
    evaluation = {
        "episodes": env_args.eval_episodes,
        "tokenizer": tokenizer,
        "env_kwargs": env_kwargs,
        "seed": EVAL_SEED,
        "progress": False,
        "max_new_tokens": env_args.collect_max_new_tokens,
    }
    before = evaluate_policy(model, env_args.env_name, **evaluation)

    # 3. Train.
    trainer = TrajectoryDPOTrainer(
        model,
        args=args,
        train_dataset=splits["train"],
        eval_dataset=splits["test"],
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    add_time_limit(trainer, env_args)  # --max_train_seconds
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    metrics = trainer.evaluate()  # DPO metrics on held-out pairs: reward accuracy and margin
    after = evaluate_policy(trainer.model, env_args.env_name, **evaluation)

    # 4. Save model (standard Hugging Face format, gathered from FSDP shards), tokenizer and pairs.
    save_trained_model(trainer, tokenizer, args.output_dir, merge_lora=env_args.merge_lora and model_args.use_peft)
    summary = {
        "output_dir": str(Path(args.output_dir).resolve()),
        "env_name": env_args.env_name,
        "env_kwargs": env_kwargs,
        "sampling_policy": env_args.sampling_policy if not env_args.dataset_path else None,
        "num_pairs": len(pairs),
        "steps_done": trainer.state.global_step,
        "mean_return_gap": sum(c - r for c, r in zip(pairs["chosen_return"], pairs["rejected_return"])) / len(pairs),
        "success_before": before["success_rate"],
        "success_after": after["success_rate"],
        "return_before": before["mean_return"],
        "return_after": after["mean_return"],
        "eval_seed": EVAL_SEED,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()},
        "note": untrained_start_note(model_args, "DPO"),
    }
    if state.is_main_process:
        save_preference_pairs(pairs, Path(args.output_dir) / "preference_pairs")
        if trajectories is not None:
            save_trajectories(trajectories, Path(args.output_dir) / "trajectories")
        (Path(args.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
        (Path(args.output_dir) / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        print(json.dumps(summary, indent=2))
        if summary["note"]:
            print(summary["note"])
    return summary


def make_parser() -> TrlParser:
    parser = TrlParser((PreferenceArguments, RecipeDPOConfig, ModelConfig))
    parser.set_defaults(**RECIPE_DEFAULTS)
    return parser


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
    end_processes()
