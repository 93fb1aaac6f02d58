"""Train an agent on environment trajectories: behavioral cloning, world model, or both.

    accelerate launch recipes/sft.py --config recipes/configs/sft_world_model.yaml
    python recipes/sft.py                      # embedded default: offline, CPU, about a minute

Reads top to bottom: arguments -> trajectories (collected with a policy, or loaded) -> model and tokenizer ->
TrajectorySFTTrainer (online collection, evaluation on the environment) -> save model, tokenizer and trajectories -> summary.
Every field can be set in the YAML file or as a command-line flag (TrlParser): they mean the same thing.
With no ``--model_name_or_path``, a tiny Qwen2-architecture model and a tokenizer trained on the collected
trajectories are built locally, so the default run needs no download.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from accelerate import PartialState  # noqa: E402
from trl import ModelConfig, TrlParser, get_peft_config  # noqa: E402

from mrlm_hf import (  # noqa: E402
    ExpertPolicy,
    RandomPolicy,
    TrajectorySFTConfig,
    TrajectorySFTTrainer,
    collect_trajectories,
    evaluate_policy,
    load_trajectories,
    save_trajectories,
    split_trajectories,
    trajectory_stats,
)
from mrlm_hf.hub import push_model, push_trajectories  # noqa: E402
from mrlm_hf.mixtures import evaluate_per_environment, mix_trajectories, stats_per_environment  # noqa: E402
from mrlm_hf.models import (  # noqa: E402
    RecipeArguments,
    add_time_limit,
    end_processes,
    load_model_and_tokenizer,
    save_trained_model,
    trajectory_texts,
)
from mrlm_hf.plotting import CURVE_FILE  # noqa: E402
from mrlm_hf.report import before_after_table  # noqa: E402
from mrlm_hf.trainer import check_model_path  # noqa: E402


@dataclass
class EnvArguments(RecipeArguments):
    """Where the trajectories come from and how the trained policy is evaluated."""

    env_name: str = field(default="gridworld", metadata={"help": "Registered environment (mrlm_hf.envs.list_envs())."})
    env_kwargs: str = field(
        default='{"size": 5, "difficulty": 0, "max_turns": 15}',
        metadata={"help": "JSON object (or YAML mapping) of environment constructor arguments."},
    )
    dataset_episodes: int = field(default=1000, metadata={"help": "Episodes to collect for the training data."})
    dataset_policy: str = field(
        default="expert",
        metadata={
            "help": "Who acts when collecting the training data: 'expert' or 'random'.",
            "choices": ["expert", "random"],
        },
    )
    dataset_seed: int = field(
        default=0, metadata={"help": "Episode i of the training data is reset with dataset_seed + i."}
    )
    num_envs: int = field(default=64, metadata={"help": "Environments stepped in lockstep during collection."})
    dataset_path: str | None = field(
        default=None, metadata={"help": "Load trajectories from here (save_trajectories output) instead of collecting."}
    )
    eval_fraction: float = field(default=0.1, metadata={"help": "Fraction of trajectories held out for eval loss."})
    dataset_hub_id: str | None = field(
        default=None,
        metadata={"help": "Also push the trajectories to this Hub dataset repo (user/name) with a dataset card."},
    )
    dataset_mixture: str | None = field(
        default=None,
        metadata={
            "help": "Multi-task training data: a YAML mapping (or JSON object) of environment name -> {weight, "
            "env_kwargs, episodes} (weight defaults to 1, episodes to dataset_episodes), mixed with "
            "mrlm_hf.mixtures.mix_trajectories; replaces env_name/env_kwargs, and success is evaluated per environment."
        },
    )
    merge_lora: bool = field(
        default=False, metadata={"help": "With use_peft: also save the base model with the adapter merged, in merged/."}
    )
    # Deprecated names (YAML files written before the rename keep working, with a warning).
    num_episodes: int | None = field(default=None, metadata={"help": "Deprecated alias of dataset_episodes."})
    collection_policy: str | None = field(default=None, metadata={"help": "Deprecated alias of dataset_policy."})
    collection_seed: int | None = field(default=None, metadata={"help": "Deprecated alias of dataset_seed."})

    def __post_init__(self) -> None:
        for old, new in DEPRECATED_NAMES.items():
            value = getattr(self, old)
            if value is not None:
                warnings.warn(f"{old} is deprecated: use {new}.", FutureWarning, stacklevel=3)
                setattr(self, new, value)
                setattr(self, old, None)


#: Old recipe field -> its name now: one name per concept, the prefix naming the data it is for (``dataset_*`` the
#: training data collected before training, ``collect_*`` online collection, ``eval_*`` evaluation).
DEPRECATED_NAMES = {
    "num_episodes": "dataset_episodes",
    "collection_policy": "dataset_policy",
    "collection_seed": "dataset_seed",
}


# Defaults of the embedded run; a YAML file or flags override any of them.
RECIPE_DEFAULTS = {
    "output_dir": "outputs/sft-default",
    "max_steps": 300,
    "per_device_train_batch_size": 16,
    "learning_rate": 3e-3,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 10,
    "logging_steps": 10,
    "eval_strategy": "steps",
    "eval_steps": 100,
    "save_strategy": "no",
    "activation_checkpointing": False,
    "max_length": 512,
    "report_to": "none",
    "mode": "combined",
    "eval_env_episodes": 64,
    "eval_world_model_transitions": 32,
    "collect_max_new_tokens": 48,
}


MIXTURE_KEYS = {"weight", "env_kwargs", "episodes"}


def parse_mixture(value: str | dict | None, episodes: int) -> dict[str, dict] | None:
    """``dataset_mixture`` as ``{env name: {"weight": float, "env_kwargs": dict, "episodes": int}}`` (defaults filled
    in: weight 1, no constructor arguments, ``episodes``); ``None`` when no mixture is given."""
    if value is None or value == "":
        return None
    mixture = value if isinstance(value, dict) else json.loads(value)
    if not isinstance(mixture, dict) or not mixture:
        raise ValueError(
            f"dataset_mixture must map environment names to {{weight, env_kwargs, episodes}}; got {value!r}."
        )
    parsed = {}
    for name, spec in mixture.items():
        spec = {} if spec is None else spec
        if not isinstance(spec, dict) or set(spec) - MIXTURE_KEYS:
            raise ValueError(
                f"dataset_mixture[{name!r}] is {spec!r}: give a mapping with keys among {sorted(MIXTURE_KEYS)}."
            )
        kwargs = spec.get("env_kwargs") or {}
        parsed[name] = {
            "weight": float(spec.get("weight", 1.0)),
            "env_kwargs": kwargs if isinstance(kwargs, dict) else json.loads(kwargs),
            "episodes": int(spec.get("episodes", episodes)),
        }
    return parsed


def main(env_args: EnvArguments, args: TrajectorySFTConfig, model_args: ModelConfig) -> dict:
    state = PartialState(cpu=args.use_cpu)  # the same process layout the Trainer will use
    env_kwargs = env_args.env_kwargs if isinstance(env_args.env_kwargs, dict) else json.loads(env_args.env_kwargs)
    mixture = parse_mixture(env_args.dataset_mixture, env_args.dataset_episodes)
    if mixture and (env_args.dataset_path or args.collect_every):
        raise ValueError("dataset_mixture collects its own data: leave dataset_path and collect_every unset with it.")
    if model_args.model_name_or_path:  # before collecting: a wrong path fails at once, saying it is missing
        check_model_path(model_args.model_name_or_path)
    # With a mixture, success is evaluated per environment after training, not on env_name during it.
    eval_episodes = args.eval_env_episodes
    if mixture:
        args.eval_env_episodes = 0

    # 1. Trajectories: load them, or collect them with the expert (or a random baseline), or a mixture of several.
    if mixture:
        with state.main_process_first():
            parts = {
                name: collect_trajectories(
                    name,
                    ExpertPolicy() if env_args.dataset_policy == "expert" else RandomPolicy(env_args.dataset_seed),
                    spec["episodes"],
                    env_kwargs=spec["env_kwargs"],
                    seed=env_args.dataset_seed,
                    num_envs=env_args.num_envs,
                    progress=state.is_main_process,
                )
                for name, spec in mixture.items()
            }
        weights = {name: spec["weight"] for name, spec in mixture.items()}
        trajectories = mix_trajectories(parts, weights, seed=env_args.dataset_seed)
    elif env_args.dataset_path:
        trajectories = load_trajectories(env_args.dataset_path)  # validated; refused below when empty
        if len(trajectories) == 0:
            raise ValueError(f"{env_args.dataset_path} holds no trajectories: collect some, or fix dataset_path.")
    else:
        policy = ExpertPolicy() if env_args.dataset_policy == "expert" else RandomPolicy(env_args.dataset_seed)
        with state.main_process_first():  # identical on every rank: same seeds, deterministic policy
            trajectories = collect_trajectories(
                env_args.env_name,
                policy,
                env_args.dataset_episodes,
                env_kwargs=env_kwargs,
                seed=env_args.dataset_seed,
                num_envs=env_args.num_envs,
                progress=state.is_main_process,
            )
    data_stats = trajectory_stats(trajectories)
    splits = split_trajectories(trajectories, test_size=env_args.eval_fraction, seed=args.seed)

    # 2. Model and tokenizer: a local/hub checkpoint, or the embedded tiny default built from scratch.
    model, tokenizer = load_model_and_tokenizer(
        model_args,
        env_args,
        lambda: trajectory_texts(splits["train"]),
        seed=args.seed,
        output_dir=args.output_dir,
        state=state,
    )

    # 3. Train. push_to_hub (TRL's field) is done at the end by mrlm_hf.hub, with this library's model card.
    model_repo = (args.hub_model_id or Path(args.output_dir).name) if args.push_to_hub else None
    args.push_to_hub = False
    trainer = TrajectorySFTTrainer(
        model,
        args=args,
        train_dataset=splits["train"],
        eval_dataset=splits["test"],
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        env=None if mixture else env_args.env_name,
        env_kwargs=env_kwargs,
    )
    add_time_limit(trainer, env_args)  # --max_train_seconds
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    # Losses per objective, success on held-out episodes, world-model accuracy: reuse an evaluation of the last step.
    step, history = trainer.state.global_step, trainer.state.log_history
    metrics = {k: v for h in history if h.get("step") == step for k, v in h.items() if k.startswith("eval_")}
    if "eval_loss" not in metrics:
        metrics = trainer.evaluate()

    # 4. Save model (standard Hugging Face format, gathered from FSDP shards), tokenizer and trajectories.
    save_trained_model(trainer, tokenizer, args.output_dir, merge_lora=env_args.merge_lora and model_args.use_peft)
    # 5. Before/after on the same held-out seeds: a random policy against the trained agent.
    baseline = None
    if args.eval_env_episodes and state.is_main_process:
        baseline = evaluate_policy(
            RandomPolicy(args.seed), env_args.env_name, args.eval_env_episodes, env_kwargs=env_kwargs, progress=False
        )
    per_env = {}
    if mixture and eval_episodes and state.is_main_process:  # the same held-out seeds for both policies
        envs = {name: spec["env_kwargs"] for name, spec in mixture.items()}
        generation = {"tokenizer": tokenizer, "max_new_tokens": args.eval_max_new_tokens, "progress": False}
        trained = evaluate_per_environment(trainer.model, envs, eval_episodes, **generation)
        randomly = evaluate_per_environment(RandomPolicy(args.seed), envs, eval_episodes, progress=False)
        per_env = {
            "dataset_mixture": mixture,
            "data_per_environment": stats_per_environment(trajectories),
            "success_per_environment": {name: stats["success_rate"] for name, stats in trained.items()},
            "random_policy_success_per_environment": {name: s["success_rate"] for name, s in randomly.items()},
        }
        args.eval_env_episodes = eval_episodes
    summary = {
        "output_dir": str(Path(args.output_dir).resolve()),
        "random_policy_success_rate": baseline["success_rate"] if baseline else None,
        "mode": args.mode,
        "steps_done": trainer.state.global_step,
        "weights": {"bc_weight": args.bc_weight, "world_model_weight": args.world_model_weight},
        "base_model": model_args.model_name_or_path,
        "env_name": env_args.env_name,
        "env_kwargs": env_kwargs,
        "dataset_hub_id": env_args.dataset_hub_id,
        "data": data_stats,
        "dropped_examples": trainer.num_dropped_examples,
        "quantized_linear_layers": sum(
            "4bit" in type(m).__name__ or "8bit" in type(m).__name__ for m in model.modules()
        ),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()},
        **per_env,
    }
    if state.is_main_process:
        save_trajectories(trajectories, Path(args.output_dir) / "trajectories")
        (Path(args.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
        (Path(args.output_dir) / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        if env_args.dataset_hub_id:  # dataset card: environment, policy, seeds, counts, success rate, schema
            url = push_trajectories(trajectories, env_args.dataset_hub_id, token=args.hub_token)
            print(f"trajectories pushed: {url}")
        if model_repo:  # model card: mode and weights, base model, data, evaluation, learning curve
            url = push_model(args.output_dir, model_repo, token=args.hub_token, private=args.hub_private_repo)
            print(f"model pushed: {url}")
        print(json.dumps(summary, indent=2))
        print(report(summary, args, env_args))
    return summary


def report(summary: dict, args: TrajectorySFTConfig, env_args: EnvArguments) -> str:
    """The table the run ends with: held-out success of a random policy and of the trained agent, world-model exact
    match, and where the model, the data and the learning curve were written."""
    out = Path(summary["output_dir"])
    rows = [
        (
            f"success rate, {args.eval_env_episodes} held-out episodes",
            summary.get("random_policy_success_rate"),
            summary.get("eval_env_success_rate"),
        ),
        ("world-model exact match, held-out transitions", None, summary.get("eval_wm_exact_match")),
    ]
    for name, success in summary.get("success_per_environment", {}).items():  # a dataset_mixture's environments
        random_success = summary["random_policy_success_per_environment"][name]
        rows.insert(-1, (f"success rate, {name}, {args.eval_env_episodes} held-out episodes", random_success, success))
    files = {"model": str(out), "data": str(out / "trajectories"), "learning curve": str(out / CURVE_FILE)}
    mixture = summary.get("dataset_mixture")
    data = f"mixture of {', '.join(mixture)}" if mixture else f"{env_args.env_name} {env_args.env_kwargs}"
    title = f"{data}, {args.mode}, {args.max_steps} steps"
    return before_after_table(rows, ("random policy", "trained agent"), files, title)


def make_parser() -> TrlParser:
    parser = TrlParser((EnvArguments, TrajectorySFTConfig, ModelConfig))
    parser.set_defaults(**RECIPE_DEFAULTS)
    return parser


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
    end_processes()
