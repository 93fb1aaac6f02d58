"""The recipe: the embedded default runs offline end to end, and a saved model loads back by path."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from mrlm_hf import load_trajectories

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "sft.py"
CONFIGS = RECIPE.parent / "configs"


def run_recipe(tmp_path: Path, *flags: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(RECIPE), *flags], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_embedded_default_runs_offline_and_saves_everything(tmp_path):
    """The documented main job, scaled down (fewer episodes and steps): everything is saved and the run ends with
    its before/after table. The full-size run is ``test_first_run_teaches`` (slow)."""
    small = ("--num_episodes", "64", "--max_steps", "20", "--eval_steps", "10", "--eval_env_episodes", "8")
    result = run_recipe(tmp_path, *small, "--eval_world_model_transitions", "4")
    out = tmp_path / "outputs" / "sft-default"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "combined" and summary["data"]["num_trajectories"] == 64
    uniform = math.log(512)  # the loss of a uniform guess over the embedded model's vocabulary
    assert summary["eval_loss_bc"] < uniform - 3 and summary["eval_loss_wm"] < uniform - 3  # it learned something
    assert 0.0 <= summary["eval_env_success_rate"] <= 1.0 and "eval_wm_exact_match" in summary
    assert 0.0 <= summary["random_policy_success_rate"] <= 1.0
    model = AutoModelForCausalLM.from_pretrained(out)  # the standard loading path, on a local directory
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer) and tokenizer.chat_template
    assert len(load_trajectories(out / "trajectories")) == 64
    assert (out / "learning_curve.png").stat().st_size > 0
    table = result.stdout[result.stdout.index("random policy") :]
    success_row = next(line for line in table.splitlines() if line.startswith("success rate"))
    assert f"{100 * summary['eval_env_success_rate']:.1f}%" in success_row
    assert f"{100 * summary['random_policy_success_rate']:.1f}%" in success_row
    assert str(out / "learning_curve.png") in table


@pytest.mark.slow
def test_first_run_teaches(tmp_path):
    """``python recipes/sft.py`` with no arguments: the trained agent solves >= 80% of held-out episodes, far above a
    random policy, and the success rate rises over the run's evaluations."""
    run_recipe(tmp_path)
    out = tmp_path / "outputs" / "sft-default"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval_env_success_rate"] >= 0.8 > summary["random_policy_success_rate"] + 0.3
    history = json.loads((out / "log_history.json").read_text())
    curve = [h["eval_env_success_rate"] for h in history if "eval_env_success_rate" in h]
    assert len(curve) >= 3 and curve[0] < curve[-1]


def test_config_file_and_model_path(tmp_path):
    """A YAML config plus flags, fine-tuning a saved checkpoint loaded with from_pretrained."""
    first = tmp_path / "first"
    run_recipe(
        tmp_path,
        "--config",
        str(CONFIGS / "sft_behavioral_cloning.yaml"),
        "--output_dir",
        str(first),
        "--num_episodes",
        "32",
        "--max_steps",
        "3",
        "--eval_env_episodes",
        "2",
        "--eval_steps",
        "3",
    )
    second = tmp_path / "second"
    run_recipe(
        tmp_path,
        "--config",
        str(CONFIGS / "sft_world_model.yaml"),
        "--model_name_or_path",
        str(first),
        "--output_dir",
        str(second),
        "--num_episodes",
        "32",
        "--max_steps",
        "3",
        "--eval_env_episodes",
        "0",
        "--eval_steps",
        "3",
        "--use_peft",
        "--lora_r",
        "4",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
        "--merge_lora",
    )
    summary = json.loads((second / "summary.json").read_text())
    assert summary["mode"] == "combined" and "eval_loss_wm" in summary
    assert (second / "adapter_config.json").exists()  # LoRA through the recipe's peft flags
    merged = AutoModelForCausalLM.from_pretrained(second / "merged")  # merged on request, standard format
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_a_missing_model_path_or_an_empty_dataset_says_so(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    (tmp_path / "empty.jsonl").write_text("")
    for flags, message in (
        (["--model_name_or_path", "./no-such-model"], "Model path './no-such-model' does not exist"),
        (["--dataset_path", "empty.jsonl"], "empty.jsonl holds no trajectories"),
    ):
        result = subprocess.run(
            [sys.executable, str(RECIPE), *flags, "--num_episodes", "8"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
        assert "StopIteration" not in result.stderr and "Repo id" not in result.stderr


def test_dataset_mixture_trains_on_two_environments_and_evaluates_each(tmp_path, monkeypatch, capsys):
    """``dataset_mixture`` from the shipped YAML (scaled down by flags; run in-process to stay fast): the training data
    draws from both environments by weight, and the summary and table report success per environment."""
    monkeypatch.syspath_prepend(str(RECIPE.parent))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    from sft import main, make_parser

    short = {"gridworld": {"size": 4, "max_turns": 2}, "math": {"max_turns": 1}}  # short evaluation episodes
    mixture = json.dumps(
        {name: {"weight": w, "episodes": 16, "env_kwargs": short[name]} for name, w in (("gridworld", 3), ("math", 1))}
    )
    flags = ["--dataset_mixture", mixture, "--output_dir", str(tmp_path / "mix"), "--max_steps", "1"]
    flags += ["--eval_strategy", "no", "--eval_env_episodes", "2", "--eval_world_model_transitions", "0"]
    flags += ["--eval_max_new_tokens", "4", "--plot_learning_curve", "false", "--use_cpu", "true"]
    summary = main(*make_parser().parse_args_and_config(["--config", str(CONFIGS / "sft_mixture.yaml"), *flags]))
    counts = {name: stats["num_trajectories"] for name, stats in summary["data_per_environment"].items()}
    assert set(counts) == {"gridworld", "math"} and counts["gridworld"] >= 2 * counts["math"]  # weights 3:1
    assert set(summary["success_per_environment"]) == {"gridworld", "math"}
    assert set(summary["random_policy_success_per_environment"]) == {"gridworld", "math"}
    assert "success rate, math, 2 held-out episodes" in capsys.readouterr().out


def test_a_malformed_dataset_mixture_names_the_environment(monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPE.parent))
    from sft import parse_mixture

    assert parse_mixture({"math": None}, 8) == {"math": {"weight": 1.0, "env_kwargs": {}, "episodes": 8}}
    with pytest.raises(ValueError, match=r"dataset_mixture\['math'\].*keys among"):
        parse_mixture({"gridworld": {"weight": 1}, "math": {"wieght": 2}}, 8)


def test_a_checkpoint_loads_by_path_without_hub_kernels(tmp_path, monkeypatch):
    """The recipes' loader reads a local checkpoint with transformers' Hub kernels off (transformers 5.25 turns them
    on by default, and they are downloaded at load time), and gets back the saved weights."""
    import torch
    from accelerate import PartialState
    from conftest import make_tokenizer
    from trl import ModelConfig

    from mrlm_hf.models import TinyModelArguments, load_model_and_tokenizer
    from mrlm_hf.tiny import build_model

    tokenizer = make_tokenizer("chatml")
    saved = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    saved.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    calls, load = [], AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: calls.append(k) or load(*a, **k))
    model_args = ModelConfig(model_name_or_path=str(tmp_path / "ckpt"), dtype="float32")
    model, _ = load_model_and_tokenizer(
        model_args, TinyModelArguments(), list, seed=0, output_dir=str(tmp_path), state=PartialState()
    )
    assert [call["use_kernels"] for call in calls] == [False]
    for name, value in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
