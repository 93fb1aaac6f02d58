"""Does RL add something beyond imitation? SFT on a weak demonstrator's episodes, then GRPO from the SFT model and
from a random init of the same model, all scored on the same held-out seeds (from 1,000,000).

The task is gridworld with walls (5x5, difficulty 1, 15 turns). The demonstrations come from a weak policy: it walks
straight toward the goal along the longer axis, blind to walls, and takes a random move with probability
``epsilon``. Behavioral cloning copies it, so success plateaus near the demonstrator's however long SFT trains;
the environment's reward is the only thing that can teach the agent to step around a wall.

    python bench/rl_beyond_imitation.py --out runs/rl_proof                 # the recorded run (GPU: ~10 min)
    python bench/rl_beyond_imitation.py --out /tmp/p --quick                # a few steps of each stage (CPU smoke)

Every stage is the recipe a user runs (``recipes/sft.py``, ``recipes/grpo.py``), as a subprocess; GRPO runs go in
parallel. Writes ``results.json`` (settings, every stage's summary, the reward curves) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrlm_hf import collect_trajectories, evaluate_policy, save_trajectories  # noqa: E402
from mrlm_hf.envs.gridworld import ACTIONS  # noqa: E402

ENV = {"size": 5, "difficulty": 1, "max_turns": 15}


class WallBlindPolicy:
    """Toward the goal along the axis with the larger distance, blind to walls; a random move with probability
    ``epsilon``. On 5x5 difficulty 1 it succeeds on about 60% of layouts (``epsilon=0``)."""

    def __init__(self, epsilon: float, seed: int = 0) -> None:
        self.epsilon, self.rng = epsilon, random.Random(seed)
        self.name = f"wall-blind-greedy(epsilon={epsilon},seed={seed})"

    def __call__(self, conversations: Sequence, envs: Sequence) -> list[str]:
        return [self._act(env.state) for env in envs]

    def _act(self, state) -> str:
        if self.rng.random() < self.epsilon:
            return self.rng.choice(ACTIONS)
        dr, dc = state.goal[0] - state.agent[0], state.goal[1] - state.agent[1]
        if dr and abs(dr) >= abs(dc):
            return "down" if dr > 0 else "up"
        return "right" if dc > 0 else "left"


def run(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    print("+", " ".join(cmd), ">", log, flush=True)
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait(procs: dict[str, subprocess.Popen], out: Path) -> None:
    for name, proc in procs.items():
        if proc.wait() != 0:
            tail = (out / f"{name}.log").read_text()[-3000:]
            raise SystemExit(f"{name} failed (rc {proc.returncode}):\n{tail}")


def scratch_model(sft_dir: Path, target: Path, seed: int) -> None:
    """The SFT model's architecture and tokenizer with freshly initialised weights (same size, same vocabulary)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sft_dir))
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(sft_dir).save_pretrained(target)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="Output directory (models, logs, results.json).")
    parser.add_argument("--quick", action="store_true", help="A few steps of each stage: a smoke run, not a result.")
    parser.add_argument("--epsilon", type=float, default=0.2, help="The demonstrator's random-move probability.")
    parser.add_argument("--demo_episodes", type=int, default=2000)
    parser.add_argument("--sft_steps", type=int, nargs="+", default=[1000, 3000], help="One SFT run per value.")
    parser.add_argument("--rl_steps", type=int, default=300)
    parser.add_argument("--rl_lrs", type=float, nargs="+", default=[3e-5, 1e-4], help="One GRPO-from-SFT run each.")
    parser.add_argument("--tasks_per_step", type=int, default=32, help="Environment seeds per GRPO step.")
    parser.add_argument("--num_generations", type=int, default=8)
    parser.add_argument("--eval_episodes", type=int, default=512)
    parser.add_argument("--extra", default="", help="Extra flags for every GRPO run (e.g. '--bf16 false').")
    args = parser.parse_args(argv)
    if args.quick:
        args.demo_episodes, args.sft_steps, args.rl_steps, args.rl_lrs = 64, [20], 2, [1e-4]
        args.tasks_per_step, args.num_generations, args.eval_episodes = 2, 2, 8
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env_json, start, stages = json.dumps(ENV), time.time(), {}

    # 1. The weak demonstrator: its episodes (training seeds 0..) and its held-out success, greedy and noisy.
    demos = collect_trajectories(
        "gridworld", WallBlindPolicy(args.epsilon), args.demo_episodes, env_kwargs=ENV, progress=False
    )
    if not (out / "demos").exists():
        save_trajectories(demos, out / "demos")
    demonstrator = {
        f"epsilon={eps}": evaluate_policy(
            WallBlindPolicy(eps, seed=1), "gridworld", args.eval_episodes, env_kwargs=ENV, progress=False
        )["success_rate"]
        for eps in sorted({0.0, args.epsilon})
    }
    print("demonstrator held-out success:", demonstrator, flush=True)

    # 2. Behavioral cloning on those episodes, at several lengths (does success plateau?).
    procs = {}
    for steps in args.sft_steps:
        name = f"sft_{steps}"
        if (out / name / "summary.json").exists():  # finished by an earlier run with this --out
            continue
        procs[name] = run(
            [
                sys.executable,
                "recipes/sft.py",
                "--dataset_path",
                str(out / "demos"),
                "--env_name",
                "gridworld",
                "--env_kwargs",
                env_json,
                "--mode",
                "behavioral_cloning",
                "--max_steps",
                str(steps),
                "--eval_env_episodes",
                str(args.eval_episodes),
                "--eval_strategy",
                "no",
                "--eval_world_model_transitions",
                "0",
                "--output_dir",
                str(out / name),
            ],
            out / f"{name}.log",
            env,
        )
    wait(procs, out)
    for steps in args.sft_steps:
        stages[f"sft_{steps}"] = json.loads((out / f"sft_{steps}" / "summary.json").read_text())
    sft = out / f"sft_{args.sft_steps[0]}"
    if not (out / "scratch" / "config.json").exists():
        scratch_model(sft, out / "scratch", seed=0)

    # 3. GRPO from the (shortest) SFT model at each learning rate, and from the random init at the first one.
    common = [
        "--env_name",
        "gridworld",
        "--env_kwargs",
        env_json,
        "--num_prompts",
        "100000",
        "--max_steps",
        str(args.rl_steps),
        "--per_device_train_batch_size",
        str(args.tasks_per_step * args.num_generations),
        "--num_generations",
        str(args.num_generations),
        "--max_completion_length",
        "560",  # 15 turns of about 34 tokens (action, end of turn, observation) fit
        "--max_turn_tokens",
        "6",
        "--eval_episodes",
        str(args.eval_episodes),
        "--logging_steps",
        "10",
        "--sft_episodes",
        "16",
        *args.extra.split(),
    ]
    runs = {f"grpo_from_sft_lr{lr:g}": (sft, lr) for lr in args.rl_lrs}
    runs[f"grpo_from_scratch_lr{args.rl_lrs[-1]:g}"] = (out / "scratch", args.rl_lrs[-1])
    procs = {
        name: run(
            [
                sys.executable,
                "recipes/grpo.py",
                "--model_name_or_path",
                str(model),
                "--learning_rate",
                str(lr),
                "--output_dir",
                str(out / name),
                *common,
            ],
            out / f"{name}.log",
            env,
        )
        for name, (model, lr) in runs.items()
    }
    wait(procs, out)
    for name in procs:
        summary = json.loads((out / name / "summary.json").read_text())
        history = json.loads((out / name / "log_history.json").read_text())
        summary["reward_curve"] = [[h["step"], h["reward"]] for h in history if "reward" in h]
        stages[name] = summary

    results = {
        "env": ENV,
        "settings": vars(args),
        "demonstrator_success_rate": demonstrator,
        "stages": stages,
        "held_out_success": {
            name: s.get("after_success_rate", s.get("eval_env_success_rate")) for name, s in stages.items()
        },
        "wall_time_s": round(time.time() - start, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["held_out_success"], indent=2), f"\n{results['wall_time_s']} s", flush=True)
    return results


if __name__ == "__main__":
    main()
