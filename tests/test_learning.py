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


def test_behavioral_cloning_on_math_learns_the_tables_but_not_yet_80_percent(tmp_path):
    # The 80% target is not reached within the CPU budget (README.md, "Proof that it learns": 39.5%, two-digit
    # addition and subtraction are not learned yet). What must hold: far above a random policy, and the
    # multiplication and division facts (all of them occur in the training data) are mostly answered right.
    record = run_claim(tmp_path, "math-bc")
    random_rate = record["baseline_random_policy"]["success_rate"]
    trained_rate = record["trained_policy"]["success_rate"]
    by_operator = record["success_by_operator"]
    assert set(by_operator) == {"+", "-", "*", "/"}
    assert random_rate < 0.05
    assert trained_rate >= 0.25
    assert by_operator["*"]["success_rate"] >= 0.5 and by_operator["/"]["success_rate"] >= 0.5


def test_world_model_on_gridworld_predicts_held_out_observations_exactly(tmp_path):
    record = run_claim(tmp_path, "gridworld-wm")
    assert record["held_out_transitions"]["expert"]["wm_num_transitions"] >= 200
    assert record["wm_exact_match"] >= 0.9 and record["passed"]


def test_reward_filtering_beats_no_filtering_at_the_same_number_of_steps(tmp_path):
    record = run_claim(tmp_path, "reward-filtering")
    on, off = record["runs"]["filter_low_reward=True"], record["runs"]["filter_low_reward=False"]
    assert on["trained_on_trajectories"] < off["trained_on_trajectories"] == record["data"]["num_trajectories"]
    assert on["success_rate"] > off["success_rate"] and record["passed"]
