"""recipes/dpo.py: its YAML parses into the recipe's dataclasses, and a 2-step CPU run collects pairs, trains,
evaluates before/after and saves a model that a second stage loads by path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from transformers import AutoModelForCausalLM

from mrlm_hf import PREFERENCE_FEATURES, load_preference_pairs, load_trajectories

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "dpo.py"


def test_dpo_config_parses(monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPE.parent))
    from dpo import make_parser

    config = str(RECIPE.parent / "configs" / "dpo.yaml")
    env_args, args, model_args = make_parser().parse_args_and_config(
        ["--config", config, "--bf16", "false", "--beta", "0.3"]
    )
    assert env_args.sampling_policy == "model" and env_args.branch_steps == "0,1" and args.beta == 0.3
    assert args.learning_rate == 5e-6 and model_args.model_name_or_path is None


def run(tmp_path: Path, *flags: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(RECIPE), *flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((tmp_path / flags[flags.index("--output_dir") + 1] / "summary.json").read_text())


def test_two_step_smoke_run_and_a_second_stage_loads_the_model(tmp_path):
    small = ["--per_device_train_batch_size", "4", "--eval_episodes", "4", "--tiny_hidden_size", "32"]
    summary = run(tmp_path, "--output_dir", "first", "--max_steps", "2", "--num_states", "24", *small)
    out = tmp_path / "first"
    assert summary["num_pairs"] >= 2 and summary["mean_return_gap"] > 0
    assert 0.0 <= summary["success_before"] <= 1.0 and 0.0 <= summary["success_after"] <= 1.0
    assert "eval_rewards/accuracies" in summary and "recipes/sft.py" in summary["note"]
    pairs = load_preference_pairs(out / "preference_pairs")
    assert pairs.features == PREFERENCE_FEATURES and len(pairs) == summary["num_pairs"]
    assert all(c > r for c, r in zip(pairs["chosen_return"], pairs["rejected_return"]))
    trajectories = load_trajectories(out / "trajectories")  # the provenance: rows the pairs' metadata points to
    for pair in pairs.select(range(3)):
        rows = json.loads(pair["metadata"])["chosen_rows"]
        assert all(trajectories[i]["seed"] == pair["seed"] for i in rows)
    AutoModelForCausalLM.from_pretrained(out)
    # The next stage: the saved model by path, the saved pairs by path.
    second = run(
        tmp_path,
        "--output_dir",
        "second",
        "--max_steps",
        "1",
        "--model_name_or_path",
        str(out),
        "--dataset_path",
        str(out / "preference_pairs"),
        *small,
    )
    assert second["num_pairs"] == summary["num_pairs"] and second["sampling_policy"] is None and second["note"] is None
    assert second["success_before"] == summary["success_after"]  # it started from the first stage's weights
