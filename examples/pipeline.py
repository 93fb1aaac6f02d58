"""The MRLM workflow on one machine: SFT -> GRPO -> DPO, each stage loading the previous stage's saved model.

    python examples/pipeline.py                          # tiny model, CPU, a few minutes
    python examples/pipeline.py --env_name math --env_kwargs '{"difficulty": 1}' --stages sft,dpo

Each stage is a recipe's ``main`` (``recipes/sft.py``, ``recipes/grpo.py``, ``recipes/dpo.py``) called with the
same flags a user would type, so a stage behaves exactly like its command line. After each stage, the saved model is loaded back from its
directory and scored on the same held-out seeds (``mrlm_hf.evaluation.EVAL_SEED`` on), greedy; the results go to
``<output_dir>/results.json`` with the date, the machine and the wall time of every stage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from mrlm_hf import evaluate_policy  # noqa: E402
from mrlm_hf.evaluation import EVAL_SEED  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
sys.path.insert(0, str(RECIPES))


def _run_recipe(module: str, flags: list[str]) -> dict[str, Any]:
    """Run ``recipes/<module>.py``'s ``main`` with command-line ``flags`` (TrlParser: YAML and flags alike)."""
    recipe = __import__(module)
    return recipe.main(*recipe.make_parser().parse_args_and_config(flags))


def sft_stage(previous: str | None, output_dir: str, env_name: str, env_kwargs: str, extra: list[str]) -> None:
    """Behavioral cloning on expert demonstrations (the tiny default model when ``previous`` is None)."""
    flags = ["--output_dir", output_dir, "--env_name", env_name, "--env_kwargs", env_kwargs, *extra]
    if previous:
        flags += ["--model_name_or_path", previous]
    _run_recipe("sft", flags)


def grpo_stage(previous: str | None, output_dir: str, env_name: str, env_kwargs: str, extra: list[str]) -> None:
    """Multi-turn GRPO from the previous stage's model: groups of episodes on the same seed, group-relative returns."""
    flags = ["--output_dir", output_dir, "--env_name", env_name, "--env_kwargs", env_kwargs, "--eval_episodes", "0"]
    if previous:
        flags += ["--model_name_or_path", previous]
    _run_recipe("grpo", [*flags, *extra])


def dpo_stage(previous: str | None, output_dir: str, env_name: str, env_kwargs: str, extra: list[str]) -> None:
    """On-policy DPO: the previous stage's model samples continuations at shared states; pairs by return."""
    flags = ["--output_dir", output_dir, "--env_name", env_name, "--env_kwargs", env_kwargs]
    flags += ["--sampling_policy", "model" if previous else "mixture", *extra]
    if previous:
        flags += ["--model_name_or_path", previous]
    _run_recipe("dpo", flags)


#: (name, stage function, extra flags for the tiny CPU run).
STAGES = [
    ("sft", sft_stage, ["--max_steps", "300"]),
    (
        "grpo",
        grpo_stage,
        ["--max_steps", "30", "--num_prompts", "120", "--max_completion_length", "512", "--max_turn_tokens", "8"],
    ),
    ("dpo", dpo_stage, ["--max_steps", "40", "--learning_rate", "5e-5", "--num_states", "128"]),
]


def held_out_success(model_dir: str, env_name: str, env_kwargs: dict, episodes: int) -> dict[str, float]:
    """Greedy success of the model saved in ``model_dir`` on ``episodes`` held-out seeds (from ``EVAL_SEED``)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    stats = evaluate_policy(
        model, env_name, episodes, tokenizer=tokenizer, env_kwargs=env_kwargs, seed=EVAL_SEED, progress=False
    )
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="outputs/pipeline")
    parser.add_argument("--env_name", default="gridworld")
    parser.add_argument("--env_kwargs", default='{"size": 5, "difficulty": 0, "max_turns": 15}')
    parser.add_argument("--eval_episodes", type=int, default=64)
    parser.add_argument("--stages", default=",".join(name for name, _, _ in STAGES), help="Comma-separated subset.")
    options = parser.parse_args()
    root, env_kwargs = Path(options.output_dir), json.loads(options.env_kwargs)
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
        "env_name": options.env_name,
        "env_kwargs": env_kwargs,
        "eval_seed": EVAL_SEED,
        "eval_episodes": options.eval_episodes,
        "stages": [],
    }
    wanted, previous = options.stages.split(","), None
    for name, stage, extra in STAGES:
        if name not in wanted:
            continue
        output_dir = str(root / name)
        start = time.time()
        stage(previous, output_dir, options.env_name, options.env_kwargs, extra)
        wall = time.time() - start
        stats = held_out_success(output_dir, options.env_name, env_kwargs, options.eval_episodes)
        results["stages"].append({"stage": name, "model": output_dir, "wall_time_s": round(wall, 1), **stats})
        previous = output_dir
        root.mkdir(parents=True, exist_ok=True)
        (root / "results.json").write_text(json.dumps(results, indent=2))  # after every stage: partial runs count
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
