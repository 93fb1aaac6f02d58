"""The RL recipes: GRPO (multi-turn, with the BC regulariser) and RLOO run offline on a CPU in a few steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CONFIGS = RECIPES / "configs"
TINY = [
    "--max_steps", "2", "--num_prompts", "4", "--per_device_train_batch_size", "4", "--num_generations", "2",
    "--eval_episodes", "2", "--sft_episodes", "8", "--tiny_hidden_size", "32", "--tiny_vocab_size", "300",
    "--logging_steps", "1",
]  # fmt: skip


def run(script: str, tmp_path: Path, *flags: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "TRL_EXPERIMENTAL_SILENCE": "1"}
    result = subprocess.run(
        [sys.executable, str(RECIPES / script), *flags], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def assert_success_curve(out: Path, steps: list[int]) -> None:
    """``--eval_every``: held-out success at those steps in summary.json (as logged), and the learning curve drawn."""
    summary = json.loads((out / "summary.json").read_text())
    logs = json.loads((out / "log_history.json").read_text())
    assert [step for step, _ in summary["success_curve"]] == steps
    logged = [[h["step"], h["eval_env_success_rate"]] for h in logs if "eval_env_success_rate" in h]
    assert summary["success_curve"] == logged
    assert (out / "learning_curve.png").stat().st_size > 0


def test_grpo_recipe_multi_turn_with_sft_weight_then_rloo_from_the_saved_model(tmp_path):
    out = tmp_path / "grpo"
    run(
        "grpo.py", tmp_path, "--config", str(CONFIGS / "grpo.yaml"), *TINY, "--output_dir", str(out),
        "--max_completion_length", "40", "--max_turn_tokens", "8", "--sft_weight", "0.5", "--eval_every", "1",
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trainer"] == "grpo" and summary["sft_weight"] == 0.5 and summary["max_steps"] == 2
    assert summary["steps_done"] == 2  # no time limit
    assert "after_success_rate" in summary and summary["env_kwargs"]["max_turns"] == 3
    assert "recipes/sft.py" in summary["note"]  # the untrained default says what to run for a real gain
    logs = json.loads((out / "log_history.json").read_text())
    steps = [h for h in logs if "loss" in h]
    assert len(steps) == 2 and all("sft/nll" in h and "rewards/episode_return_reward/mean" in h for h in steps)
    assert (out / "config.json").exists() and (out / "tokenizer_config.json").exists()
    assert_success_curve(out, [1])  # not at the last step: after_success_rate scores the final model

    rloo = tmp_path / "rloo"  # with a time limit that is up after the first step: it stops there and reports
    result = run(
        "rloo.py", tmp_path, "--config", str(CONFIGS / "grpo_rloo.yaml"), *TINY, "--output_dir", str(rloo),
        "--model_name_or_path", str(out), "--max_completion_length", "8", "--eval_every", "1",
        "--max_steps", "3", "--max_train_seconds", "1e-9",
    )  # fmt: skip
    summary = json.loads((rloo / "summary.json").read_text())
    assert summary["trainer"] == "rloo" and summary["last_reward"] is not None and summary["note"] is None
    assert (summary["max_steps"], summary["steps_done"]) == (3, 1) and "after_success_rate" in summary
    assert "Training stopped at step 1 of 3: max_train_seconds" in result.stderr
    logs = json.loads((rloo / "log_history.json").read_text())
    assert any("rewards/env_reward/mean" in h for h in logs)
    assert_success_curve(rloo, [1])


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("grpo*.yaml")), ids=lambda p: p.name)
def test_rl_configs_parse(path, monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPES))
    from grpo import make_parser
    from rloo import RLOO_DEFAULTS

    from mrlm_hf.rl import EnvRLOOConfig

    parser = make_parser(EnvRLOOConfig, RLOO_DEFAULTS) if "rloo" in path.name else make_parser()
    rl_args, args, _ = parser.parse_args_and_config(["--config", str(path), "--use_cpu", "true"])
    assert rl_args.env_name and args.num_generations >= 2 and args.bf16 is False


BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
def test_rl_beyond_imitation_quick_run_writes_every_stage(tmp_path):
    """The headline script's pipeline (demonstrations -> SFT -> GRPO from SFT and from scratch) end to end, tiny, on
    the task given by --env_kwargs in every stage."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "TRL_EXPERIMENTAL_SILENCE": "1"}
    task = {"size": 5, "difficulty": 2, "max_turns": 15}
    cmd = [sys.executable, str(BENCH / "rl_beyond_imitation.py"), "--out", str(tmp_path), "--quick"]
    flags = ["--env_kwargs", json.dumps(task), "--scratch_steps", "1", "--deadline_s", "100000"]
    flags += ["--archive", str(tmp_path / "rl.tgz")]
    printed = subprocess.run([*cmd, *flags], env=env, check=True, capture_output=True, text=True).stdout
    results = json.loads((tmp_path / "results.json").read_text())
    stages = results["stages"]
    assert set(results["held_out_success"]) == {"sft_20", "grpo_from_scratch_lr0.0001", "grpo_from_sft_lr0.0001"}
    assert stages["grpo_from_sft_lr0.0001"]["before_success_rate"] == results["held_out_success"]["sft_20"]
    assert results["env"] == task
    assert all(stage["env_kwargs"] == task for stage in stages.values())
    assert (stages["grpo_from_scratch_lr0.0001"]["max_steps"], stages["grpo_from_sft_lr0.0001"]["max_steps"]) == (1, 2)
    for name in ("grpo_from_scratch_lr0.0001", "grpo_from_sft_lr0.0001"):  # each with the time left to train
        output_dir = str((tmp_path / name).resolve())
        (launched,) = [line.split() for line in printed.splitlines() if output_dir in line.split()]
        assert "--max_train_seconds" in launched
        assert stages[name]["steps_done"] == stages[name]["max_steps"]
    assert "Held-out success, 8 episodes" in printed and "grpo_from_sft_lr0.0001 " in printed  # the closing table
    with tarfile.open(tmp_path / "rl.tgz") as tar:  # what a machine that returns few files hands back
        names = set(tar.getnames())
        assert json.load(tar.extractfile("results.json")) == results
    for stage in stages:
        assert {f"{stage}.log", f"{stage}/summary.json", f"{stage}/log_history.json"} <= names


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_grpo_from_sft_beats_grpo_from_scratch_on_gridworld_walls(tmp_path):
    """The recorded run 2 (bench/RESULTS.md, about 10 minutes on one H200). What it showed, and what this asserts:
    GRPO from the SFT model gains at least 5 points over it (+10.5 was measured; the issue's +15 was not reached, so
    it is not asserted) and ends far above GRPO from the random init."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    subprocess.run([sys.executable, str(BENCH / "rl_beyond_imitation.py"), "--out", str(tmp_path)], env=env, check=True)
    success = json.loads((tmp_path / "results.json").read_text())["held_out_success"]
    assert success["grpo_from_sft_lr0.0002"] >= success["sft_1500"] + 0.05
    assert success["grpo_from_sft_lr0.0002"] > success["grpo_from_scratch_lr0.0002"] + 0.3


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_grpo_from_sft_gains_on_gridworld_with_more_walls(tmp_path):
    """Difficulty 2 (bench/RESULTS.md, "more walls"; about 10 minutes on one H200), against the tuned cloning baseline
    (SFT at lr 1e-3 with 100 warm-up steps: 68-76% held-out on three seeds on a CPU; the recipe's 3e-3 can stall at
    ln(4)/2). Against the untuned one, GRPO gained +7 to +20 points in three runs; against this one it has not been
    measured on a GPU yet. Asserted: at least 5 points over SFT after 45 rollouts, and far above GRPO from the random
    init."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    task = json.dumps({"size": 5, "difficulty": 2, "max_turns": 15})
    cmd = [sys.executable, str(BENCH / "rl_beyond_imitation.py"), "--out", str(tmp_path), "--env_kwargs", task]
    cmd += ["--sft_flags", "--learning_rate 1e-3 --warmup_steps 100"]
    subprocess.run([*cmd, "--rl_lrs", "3e-4", "--scratch_steps", "60"], env=env, check=True)
    success = json.loads((tmp_path / "results.json").read_text())["held_out_success"]
    assert success["grpo_from_sft_lr0.0003"] >= success["sft_1500"] + 0.05
    assert success["grpo_from_sft_lr0.0003"] > success["grpo_from_scratch_lr0.0003"] + 0.3


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_grpo_gains_15_points_over_cloning_a_weak_demonstrator(tmp_path):
    """The issue's headline as recorded (bench/RESULTS.md, "weak demonstrator"; about 9 minutes on one H200): cloning
    a wall-blind demonstrator (three SFT seeds at lr 1e-3, warm-up 100), then 480 GRPO steps from each SFT model and
    40 from the random init. Measured: +15.6, +21.1 and +25.8 points (mean +20.8), random init 0%. Asserted: a mean
    gain of at least 15 points, at least 10 for every seed, and every arm from SFT far above the one from scratch."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    cmd = [
        sys.executable,
        str(BENCH / "rl_beyond_imitation.py"),
        "--out",
        str(tmp_path),
        "--demonstrator",
        "wall_blind",
    ]
    cmd += [
        "--sft_steps",
        "1500",
        "--sft_seeds",
        "1",
        "2",
        "3",
        "--sft_flags",
        "--learning_rate 1e-3 --warmup_steps 100",
    ]
    cmd += ["--rl_steps", "480", "--rl_lrs", "3e-4", "--scratch_steps", "40", "--eval_every", "160"]
    subprocess.run(cmd, env=env, check=True)
    success = json.loads((tmp_path / "results.json").read_text())["held_out_success"]
    gains = [success[f"grpo_from_sft_seed{s}_lr0.0003"] - success[f"sft_1500_seed{s}"] for s in (1, 2, 3)]
    assert sum(gains) / 3 >= 0.15 and min(gains) >= 0.10, gains
    scratch = success["grpo_from_scratch_lr0.0003"]
    assert all(success[f"grpo_from_sft_seed{s}_lr0.0003"] > scratch + 0.3 for s in (1, 2, 3))


def test_rl_beyond_imitation_reuses_an_sft_model_only_for_the_same_request(tmp_path, monkeypatch):
    """--sft_seeds trains one SFT model per seed and starts every GRPO arm from each; a model under --out is reused
    only when the command that trained it (and what made its demonstrations) matches, wherever --out lies."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rl_beyond_imitation", BENCH / "rl_beyond_imitation.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    launched: list[list[str]] = []

    def fake_run(cmd, out, name, env):
        launched.append(cmd)
        return name

    def fake_finish(proc, out, name):
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "summary.json").write_text(json.dumps({"stage": name}))
        return {"stage": name}

    monkeypatch.setattr(script, "run", fake_run)
    monkeypatch.setattr(script, "finish", fake_finish)
    monkeypatch.setattr(script, "evaluate_policy", lambda *a, **k: {"success_rate": 1.0})

    def main(out: Path, *flags: str) -> list[str]:
        launched.clear()
        script.main(["--out", str(out), "--quick", "--no_scratch", "--sft_seeds", "1", "2", *flags])
        return [cmd[cmd.index("--output_dir") + 1].rsplit("/", 1)[-1] for cmd in launched]

    first = tmp_path / "cpu" / "rl"
    assert main(first, "--sft_only") == ["sft_20_seed1", "sft_20_seed2"]
    moved = tmp_path / "gpu" / "rl"  # carried to another machine: same request, another path
    moved.parent.mkdir()
    first.rename(moved)
    assert main(moved) == ["grpo_from_sft_seed1_lr0.0001", "grpo_from_sft_seed2_lr0.0001"]
    models = [cmd[cmd.index("--model_name_or_path") + 1] for cmd in launched]
    assert models == [str(moved / "sft_20_seed1"), str(moved / "sft_20_seed2")]
    assert main(moved, "--sft_only", "--demonstrator", "wall_blind") == ["sft_20_seed1", "sft_20_seed2"]  # other demos
    assert main(moved, "--sft_only", "--sft_seeds", "1", "3")[-1] == "sft_20_seed3"
    assert main(moved, "--sft_only", "--sft_seeds", "1", "--sft_flags", "--learning_rate 1e-3") == ["sft_20_seed1"]
    assert launched[0][-2:] == ["--learning_rate", "1e-3"]
    monkeypatch.setattr(script.torch.cuda, "is_available", lambda: True)  # packs on a GPU: not the same request
    assert main(moved, "--sft_only", "--sft_seeds", "1", "3") == ["sft_20_seed1", "sft_20_seed3"]
