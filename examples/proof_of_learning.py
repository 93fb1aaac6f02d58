"""Proof that it learns: tiny models trained from scratch on a CPU, scored on held-out seeds.

    python examples/proof_of_learning.py gridworld-bc       # behavioral cloning on gridworld vs a random policy
    python examples/proof_of_learning.py math-bc            # behavioral cloning on math (difficulty 1, worked solutions)
    python examples/proof_of_learning.py gridworld-wm       # world model on gridworld: next-observation exact match
    python examples/proof_of_learning.py reward-filtering   # expert + random data: filter_low_reward on vs off
    python examples/proof_of_learning.py all

Each claim collects its training data with the environment's scripted expert (plus ``RandomPolicy`` episodes where
said), builds the local tiny BPE tokenizer and a randomly initialised Qwen2-architecture model (``mrlm_hf.tiny``:
nothing is downloaded), trains with ``TrajectorySFTTrainer`` and evaluates on seeds from ``EVAL_SEED`` (1,000,000)
on, which no training episode uses (training episodes use seeds 0, 1, 2, ...). Policies are played with greedy
decoding (``evaluate_policy``); world models are scored with ``evaluate_world_model``. Each run prints its numbers and
writes ``<output_dir>/<claim>.json``: settings, baseline, result, target, wall-clock seconds, and the fraction of
evaluation tasks that also occur in the training data (small task spaces repeat: a 5x5 grid without walls has a few
hundred layouts). Flags override the settings (``--steps``, ``--learning_rate``, ...); the defaults are the runs
recorded in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from datasets import Dataset, concatenate_datasets, disable_progress_bars  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from mrlm_hf import (  # noqa: E402
    ExpertPolicy,
    RandomPolicy,
    TrajectorySFTConfig,
    TrajectorySFTTrainer,
    TransformersPolicy,
    collect_trajectories,
    evaluate_policy,
    evaluate_world_model,
    trajectory_stats,
)
from mrlm_hf.evaluation import EVAL_SEED  # noqa: E402
from mrlm_hf.tiny import build_model, build_tokenizer  # noqa: E402

GRID = {"size": 5, "difficulty": 0, "max_turns": 15}
MODEL = {"hidden_size": 128, "num_layers": 2, "vocab_size": 512, "seed": 0}

# The settings of each claim (the runs README.md records); command-line flags override them.
CLAIMS: dict[str, dict[str, Any]] = {
    "gridworld-bc": {
        **MODEL,
        "env": "gridworld",
        "env_kwargs": GRID,
        "num_expert": 1000,
        "num_random": 0,
        "group_by_length": False,
        "steps": 600,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "max_new_tokens": 4,
        "eval_episodes": 256,
        "target": 0.8,
    },
    "math-bc": {
        **MODEL,
        "env": "math",
        "env_kwargs": {"difficulty": 1, "expert": "worked"},
        "num_expert": 4000,
        "num_random": 0,
        "group_by_length": False,
        "steps": 2000,
        "batch_size": 32,
        "learning_rate": 2e-3,
        "max_new_tokens": 36,
        "eval_episodes": 256,
        "target": 0.8,
    },
    "gridworld-wm": {
        **MODEL,
        "env": "gridworld",
        "env_kwargs": GRID,
        "num_expert": 800,
        "num_random": 0,
        "group_by_length": True,
        "steps": 1000,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "max_new_tokens": 32,
        "eval_trajectories": 64,
        "eval_transitions": 256,
        "target": 0.9,
    },
    "reward-filtering": {
        **MODEL,
        "env": "gridworld",
        "env_kwargs": GRID,
        "num_expert": 200,
        "num_random": 800,
        "min_reward_threshold": 0.5,
        "group_by_length": True,
        "steps": 300,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "max_new_tokens": 4,
        "eval_episodes": 256,
    },
}


# ---------------------------------------------------------------------------------------------- building blocks
def collect(settings: dict[str, Any], seed: int = 0) -> Dataset:
    """``num_expert`` expert episodes (seeds ``seed, seed + 1, ...``), then ``num_random`` random ones (next seeds)."""
    env, env_kwargs = settings["env"], settings["env_kwargs"]
    n_expert, n_random = settings["num_expert"], settings.get("num_random", 0)
    parts = [collect_trajectories(env, ExpertPolicy(), n_expert, env_kwargs=env_kwargs, seed=seed, progress=False)]
    if n_random:
        parts.append(
            collect_trajectories(
                env, RandomPolicy(seed), n_random, env_kwargs=env_kwargs, seed=seed + n_expert, progress=False
            )
        )
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def seen_fraction(train: Dataset, held_out: Dataset) -> float:
    """Fraction of held-out episodes whose task (first observation: the grid, the problem) occurs in the training data."""
    seen = {row[0] for row in train["observations"]}
    tasks = [row[0] for row in held_out["observations"]]
    return sum(t in seen for t in tasks) / max(1, len(tasks))


def build(trajectories: Dataset, settings: dict[str, Any]) -> tuple[Any, Any]:
    """The local BPE tokenizer trained on the training text, and a freshly initialised tiny Qwen2 model."""
    corpus = [t for row in trajectories for t in (*row["observations"], *row["actions"], row["system_prompt"])]
    tokenizer = build_tokenizer(corpus, vocab_size=settings["vocab_size"])
    hidden = settings["hidden_size"]
    model = build_model(
        tokenizer,
        hidden_size=hidden,
        num_layers=settings["num_layers"],
        num_heads=4,
        num_kv_heads=4,
        intermediate_size=4 * hidden,
        seed=settings["seed"],
    )
    settings["num_parameters"] = model.num_parameters()  # recorded with the settings
    return tokenizer, model


def train(model: Any, tokenizer: Any, data: Dataset, mode: str, settings: dict[str, Any], **config: Any) -> Any:
    """``settings["steps"]`` optimizer steps of ``mode`` on ``data`` (cosine schedule, CPU, no checkpoints)."""
    steps = settings["steps"]
    args = TrajectorySFTConfig(
        output_dir=str(Path(settings["output_dir"]) / "runs"),
        mode=mode,
        max_steps=steps,
        per_device_train_batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type="cosine",
        warmup_steps=min(20, steps // 10),
        weight_decay=0.0,
        logging_steps=max(1, steps // 10),
        save_strategy="no",
        report_to="none",
        use_cpu=settings.get("use_cpu", True),  # False: train on the accelerator when there is one
        activation_checkpointing=False,  # TRL turns it on by default; a tiny model does not need it
        max_length=1024,
        disable_tqdm=True,
        # Batches of similar length pad less; only where lengths do not sort the data by kind (in math they would
        # sort it by operator, which slows learning).
        train_sampling_strategy="group_by_length" if settings["group_by_length"] else "random",
        seed=settings["seed"],
        **config,
    )
    trainer = TrajectorySFTTrainer(model, args=args, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    return trainer


def play(policy: Any, settings: dict[str, Any], tokenizer: Any = None) -> dict[str, float]:
    """Success rate, mean return and length over ``eval_episodes`` held-out episodes (greedy decoding for models)."""
    kwargs = {} if tokenizer is None else {"tokenizer": tokenizer, "max_new_tokens": settings["max_new_tokens"]}
    stats = evaluate_policy(
        policy, settings["env"], settings["eval_episodes"], env_kwargs=settings["env_kwargs"], progress=False, **kwargs
    )
    return {k: round(v, 4) for k, v in stats.items()}


def success_by_operator(model: Any, tokenizer: Any, settings: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Math only: the same held-out episodes as ``play`` (same seeds, greedy), success rate per operator."""
    policy = TransformersPolicy(model, tokenizer, max_new_tokens=settings["max_new_tokens"], do_sample=False)
    episodes = held_out_episodes(settings, policy)
    by_op: dict[str, list[bool]] = {}
    for question, success in zip(episodes["observations"], episodes["success"]):
        match = re.search(r"\d ([-+*/]) \d", question[0])
        by_op.setdefault(match.group(1) if match else "?", []).append(success)
    return {op: {"episodes": len(v), "success_rate": round(sum(v) / len(v), 4)} for op, v in sorted(by_op.items())}


def held_out_episodes(settings: dict[str, Any], policy: Any) -> Dataset:
    """``eval_episodes`` episodes of ``policy`` on the held-out seeds (from ``EVAL_SEED``, as ``evaluate_policy``)."""
    return collect_trajectories(
        settings["env"],
        policy,
        settings["eval_episodes"],
        env_kwargs=settings["env_kwargs"],
        seed=EVAL_SEED,
        progress=False,
    )


def held_out_tasks(settings: dict[str, Any]) -> Dataset:
    """The evaluation episodes' tasks (the seeds ``evaluate_policy`` uses), collected with the expert."""
    return held_out_episodes(settings, ExpertPolicy())


# ---------------------------------------------------------------------------------------------- the claims
def behavioral_cloning(settings: dict[str, Any]) -> dict[str, Any]:
    """Expert demonstrations -> behavioral cloning -> success rate on held-out seeds, against a random policy."""
    data = collect(settings)
    tokenizer, model = build(data, settings)
    baseline = play(RandomPolicy(EVAL_SEED), settings)
    trainer = train(model, tokenizer, data, "behavioral_cloning", settings)
    result = play(trainer.model, settings, tokenizer)
    extra = (
        {"success_by_operator": success_by_operator(trainer.model, tokenizer, settings)}
        if settings["env"] == "math"
        else {}
    )
    return {
        "baseline_random_policy": baseline,
        "trained_policy": result,
        **extra,
        "final_train_loss_bc": last_logged(trainer, "loss_bc"),
        "eval_tasks_seen_in_training": round(seen_fraction(data, held_out_tasks(settings)), 4),
        "passed": result["success_rate"] >= settings["target"],
    }


def world_model(settings: dict[str, Any]) -> dict[str, Any]:
    """Trajectories -> world model -> next-observation exact match on held-out trajectories.

    Scored on held-out trajectories of the policy that made the training data (the claim), and, for information, on
    held-out random-policy trajectories: with expert-only training data that is out of distribution (the expert never
    walks into the edge of the grid, never turns back, and its histories are short)."""
    data = collect(settings)
    tokenizer, model = build(data, settings)
    trainer = train(model, tokenizer, data, "world_model", settings)
    n, env, env_kwargs = settings["eval_trajectories"], settings["env"], settings["env_kwargs"]
    held_out = {
        "expert": collect_trajectories(env, ExpertPolicy(), n, env_kwargs=env_kwargs, seed=EVAL_SEED, progress=False),
        "random": collect_trajectories(
            env, RandomPolicy(EVAL_SEED), n, env_kwargs=env_kwargs, seed=EVAL_SEED, progress=False
        ),
    }
    scores = {}
    for name, trajectories in held_out.items():
        stats = evaluate_world_model(
            trainer.model,
            tokenizer,
            trajectories,
            max_transitions=settings["eval_transitions"],
            max_new_tokens=settings["max_new_tokens"],
        )
        scores[name] = {k: round(v, 4) for k, v in stats.items()}
    in_distribution = ["expert"] + (["random"] if settings.get("num_random") else [])
    total = sum(scores[k]["wm_num_transitions"] for k in in_distribution)
    exact = sum(scores[k]["wm_exact_match"] * scores[k]["wm_num_transitions"] for k in in_distribution) / total
    return {
        "held_out_transitions": scores,
        "scored_on": in_distribution,
        "wm_exact_match": round(exact, 4),
        "final_train_loss_wm": last_logged(trainer, "loss_wm"),
        "eval_tasks_seen_in_training": round(seen_fraction(data, held_out["expert"]), 4),
        "passed": exact >= settings["target"],
    }


def reward_filtering(settings: dict[str, Any]) -> dict[str, Any]:
    """The same expert + random mixture, model initialisation and number of optimizer steps, filter on vs off."""
    data = collect(settings)
    tokenizer, _ = build(data, settings)
    runs = {}
    for name, filtering in (("filter_low_reward=False", False), ("filter_low_reward=True", True)):
        _, model = build(data, settings)  # same seed: the same initial weights in both runs
        trainer = train(
            model,
            tokenizer,
            data,
            "behavioral_cloning",
            settings,
            filter_low_reward=filtering,
            min_reward_threshold=settings["min_reward_threshold"],
        )
        runs[name] = {
            "trained_on_trajectories": len(trainer.train_dataset),
            **play(trainer.model, settings, tokenizer),
        }
    on, off = runs["filter_low_reward=True"]["success_rate"], runs["filter_low_reward=False"]["success_rate"]
    return {
        "data": {k: round(v, 4) for k, v in trajectory_stats(data).items()},
        "baseline_random_policy": play(RandomPolicy(EVAL_SEED), settings),
        "runs": runs,
        "passed": on > off,
    }


def last_logged(trainer: Any, key: str) -> float | None:
    values = [entry[key] for entry in trainer.state.log_history if key in entry]
    return round(values[-1], 4) if values else None


RUNNERS = {
    "gridworld-bc": behavioral_cloning,
    "math-bc": behavioral_cloning,
    "gridworld-wm": world_model,
    "reward-filtering": reward_filtering,
}


def run(claim: str, overrides: dict[str, Any], output_dir: str) -> dict[str, Any]:
    settings = {**CLAIMS[claim], **{k: v for k, v in overrides.items() if v is not None}, "output_dir": output_dir}
    start = time.time()
    outcome = RUNNERS[claim](settings)
    settings.pop("output_dir")
    record = {"claim": claim, "settings": settings, **outcome, "seconds": round(time.time() - start, 1)}
    path = Path(output_dir) / f"{claim}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2), flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claim", choices=[*CLAIMS, "all"])
    parser.add_argument("--output_dir", default="outputs/proof")
    for name in ("steps", "batch_size", "num_expert", "num_random", "hidden_size", "num_layers", "seed"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("eval_episodes", "eval_transitions", "eval_trajectories", "max_new_tokens", "vocab_size"):
        parser.add_argument(f"--{name}", type=int)
    parser.add_argument("--learning_rate", type=float)
    parser.add_argument("--env_kwargs", type=json.loads, help='JSON, e.g. \'{"size": 5, "difficulty": 1}\'')
    args = vars(parser.parse_args(argv))
    claim, output_dir = args.pop("claim"), args.pop("output_dir")
    hf_logging.set_verbosity_error()
    disable_progress_bars()
    records = [run(c, args, output_dir) for c in (CLAIMS if claim == "all" else [claim])]
    return 0 if all(r["passed"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
