"""Two processes (CPU, gloo) through torchrun: the same global batch gives the same losses as one process,
online collection keeps both processes on one buffer, and a time limit stops both at the same step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "sft.py"
COMMON = [
    "--use_cpu",
    "--num_episodes",
    "96",
    "--max_steps",
    "4",
    "--logging_steps",
    "1",
    "--eval_env_episodes",
    "0",
    "--eval_world_model_transitions",
    "0",
    "--eval_strategy",
    "no",
    "--learning_rate",
    "1e-3",
]


def torchrun(tmp_path: Path, processes: int, port: int, script: Path, *args: str) -> None:
    """``script args`` on ``processes`` CPU processes (gloo) through torchrun, in ``tmp_path``."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*launcher, "--master_port", str(port), str(script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def run(tmp_path: Path, name: str, processes: int, *flags: str) -> list[dict]:
    out = tmp_path / name
    torchrun(tmp_path, processes, 29400 + processes + 10 * len(name), RECIPE, *COMMON, "--output_dir", str(out), *flags)
    return json.loads((out / "log_history.json").read_text())


def losses(history: list[dict]) -> list[tuple[float, float, float]]:
    return [(h["loss"], h["loss_bc"], h["loss_wm"]) for h in history if "loss_bc" in h and "eval_loss" not in h]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = run(tmp_path, "one", 1, "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2")
    two = run(tmp_path, "two", 2, "--per_device_train_batch_size", "8")
    assert len(losses(one)) == len(losses(two)) == 4
    # 4 steps x 16 examples stay inside the first epoch (at an epoch's end Accelerate pads the last batch per rank).
    for a, b in zip(losses(one), losses(two)):
        assert a == pytest.approx(b, rel=1e-4)  # token-weighted over both ranks, not a mean of per-rank means
    tokens = [[h["num_tokens"] for h in history if "loss_bc" in h] for history in (one, two)]
    assert tokens[0] == tokens[1]  # the same examples in every global batch


def test_online_collection_with_two_processes(tmp_path):
    history = run(
        tmp_path,
        "online",
        2,
        "--per_device_train_batch_size",
        "4",
        "--collect_every",
        "2",
        "--collect_episodes",
        "8",
        "--collect_policy",
        "expert",
    )
    collected = [h for h in history if "buffer_trajectories" in h]
    # 86 training trajectories (96 minus the 10% held out), then 8 per collection (4 per process, gathered).
    assert [h["buffer_trajectories"] for h in collected] == [94.0]
    shards = tmp_path / "online" / "online_trajectories"
    assert sorted(p.name for p in shards.iterdir()) == ["rank-0", "rank-1"]


def grpo_record(tmp_path: Path, processes: int, per_device: int) -> dict:
    out = tmp_path / f"grpo{processes}"
    torchrun(
        tmp_path, processes, 29500 + processes, Path(__file__).parent / "grpo_ddp_worker.py", str(out), str(per_device)
    )
    return json.loads((out / "record.json").read_text())


def test_grpo_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    """Multi-turn GRPO (scripted, deterministic episodes) under DDP: the rewards, every step's gradient norm and the
    final weights equal those of one process with the same global batch of 8 episodes."""
    one, two = grpo_record(tmp_path, 1, 8), grpo_record(tmp_path, 2, 4)
    assert len(one["grad_norm"]) == 3 and min(one["reward_std"]) > 0  # groups with different returns: real gradients
    assert two["reward_std"] == pytest.approx(one["reward_std"], rel=1e-6)
    assert two["grad_norm"] == pytest.approx(one["grad_norm"], rel=1e-4)
    for name, values in one["weights"].items():
        assert two["weights"][name] == pytest.approx(values, abs=1e-5), name


def test_time_limit_stops_every_process_at_the_same_step(tmp_path):
    """Rank 0's time is up at once, rank 1's never: both stop after step 3 (the first comparison), not rank 0 alone."""
    out = tmp_path / "limit"
    out.mkdir()
    torchrun(tmp_path, 2, 29610, Path(__file__).parent / "time_limit_worker.py", str(out))
    records = [json.loads((out / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    assert records == [{"global_step": 3, "stopped_at_step": 3}] * 2
