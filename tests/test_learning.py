"""Proof that it learns: the runs recorded in README.md, end to end on a CPU (minutes each; ``pytest -m slow``).

Each test runs ``examples/proof_of_learning.py`` with its recorded settings and checks the claim it makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "proof_of_learning.py"

pytestmark = pytest.mark.slow


def run_claim(tmp_path: Path, claim: str, *flags: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), claim, "--output_dir", str(tmp_path), *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    record_path = tmp_path / f"{claim}.json"
    assert record_path.exists(), result.stderr[-4000:]
    record = json.loads(record_path.read_text())
    assert (result.returncode == 0) == record["passed"]
    return record


def test_behavioral_cloning_on_gridworld_beats_random_and_reaches_80_percent(tmp_path):
    record = run_claim(tmp_path, "gridworld-bc")
    random_rate = record["baseline_random_policy"]["success_rate"]
    trained_rate = record["trained_policy"]["success_rate"]
    assert random_rate < 0.5
    assert trained_rate >= 0.8 and record["passed"]


def test_behavioral_cloning_on_math_with_worked_solutions_reaches_80_percent(tmp_path):
    # Worked-solution demonstrations (MathEnv(expert="worked"): column arithmetic for + and -): every operator,
    # including two-digit addition and subtraction on mostly unseen problems, not just the memorised tables.
    record = run_claim(tmp_path, "math-bc")
    assert record["settings"]["env_kwargs"] == {"difficulty": 1, "expert": "worked"}
    random_rate = record["baseline_random_policy"]["success_rate"]
    trained_rate = record["trained_policy"]["success_rate"]
    by_operator = record["success_by_operator"]
    assert set(by_operator) == {"+", "-", "*", "/"}
    assert random_rate < 0.05
    assert trained_rate >= 0.8 and record["passed"]
    assert all(v["success_rate"] >= 0.6 for v in by_operator.values()), by_operator


def test_world_model_on_gridworld_predicts_held_out_observations_exactly(tmp_path):
    record = run_claim(tmp_path, "gridworld-wm")
    assert record["held_out_transitions"]["expert"]["wm_num_transitions"] >= 200
    assert record["wm_exact_match"] >= 0.9 and record["passed"]


def test_reward_filtering_beats_no_filtering_at_the_same_number_of_steps(tmp_path):
    record = run_claim(tmp_path, "reward-filtering")
    on, off = record["runs"]["filter_low_reward=True"], record["runs"]["filter_low_reward=False"]
    assert on["trained_on_trajectories"] < off["trained_on_trajectories"] == record["data"]["num_trajectories"]
    assert on["success_rate"] > off["success_rate"] and record["passed"]
