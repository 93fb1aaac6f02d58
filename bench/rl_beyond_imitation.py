"""Does RL add something beyond imitation? SFT on demonstrations, then GRPO from the SFT model and from a random init
of the same model size, all scored on the same held-out seeds (from 1,000,000):
the proof asked for by issue 13.

The task is gridworld with walls (5x5, difficulty 1, 15 turns), where behavioral cloning plateaus: the BFS expert never
bumps into a wall or turns back, so a cloned policy that drifts off the expert's path is in states its data never
showed (compounding errors); only the environment's reward teaches it to recover. ``--demonstrator wall_blind`` uses
a weak policy instead (straight toward the goal along the longer axis, blind to walls, a random move with
probability ``epsilon``). The SFT stage uses the recipe's learning rate unless ``--sft_flags`` says otherwise; at
difficulty 2 that under-trains the tiny model (bench/RESULTS.md), so compare against ``--sft_flags '--learning_rate 1e-3
--warmup_steps 100'`` before crediting RL with a gain.

    python bench/rl_beyond_imitation.py --out runs/rl_proof                 # the recorded run 2 (one H200: about 10 min)
    python bench/rl_beyond_imitation.py --out /tmp/p --quick                # a few steps of each stage (CPU smoke)
    python bench/rl_beyond_imitation.py --out runs/weak --demonstrator wall_blind --sft_seeds 1 2 3 \
        --sft_flags '--learning_rate 1e-3 --warmup_steps 100' --rl_steps 480 --rl_lrs 3e-4 --scratch_steps 40 \
        --eval_every 160                                                    # the headline: +16 to +26 (one H200, 9 min)
    python bench/rl_beyond_imitation.py --out runs/d2 --env_kwargs '{"size": 5, "difficulty": 2, "max_turns": 15}' \
        --rl_lrs 3e-4 --scratch_steps 120 --deadline_s 540                  # more walls, done within 9 minutes
    python bench/rl_beyond_imitation.py --out runs/v --no_scratch --rl_lrs 1e-4 \
        --variant batch "--scale_rewards batch" --variant t15 "--temperature 1.5"   # variants from one SFT model
    python bench/rl_beyond_imitation.py --out outputs/d2 --sft_seeds 1 2 3 --sft_only   # SFT models, e.g. on a CPU
    python bench/rl_beyond_imitation.py --out outputs/d2 --sft_seeds 1 2 3 ...   # then GRPO from each (same request:
                                                                                 # the saved SFT models are reused)

Every stage is the recipe a user runs (``recipes/sft.py``, ``recipes/grpo.py``), as a subprocess; GRPO runs go in
parallel. Writes ``results.json`` (settings, every stage's summary, the reward curves) under ``--out`` (and with
``--archive``, a ``.tar.gz`` of it and every stage's log and summary).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrlm_hf import ExpertPolicy, collect_trajectories, evaluate_policy, save_trajectories  # noqa: E402
from mrlm_hf.envs.gridworld import ACTIONS  # noqa: E402
from mrlm_hf.report import before_after_table  # noqa: E402

CONFIG = "recipes/configs/grpo_gridworld_walls.yaml"  # the GRPO settings, and the task for every stage
ENV = yaml.safe_load((ROOT / CONFIG).read_text())["env_kwargs"]


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


def run(cmd: list[str], out: Path, name: str, env: dict[str, str]) -> subprocess.Popen:
    print("+", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=(out / f"{name}.log").open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def finish(proc: subprocess.Popen, out: Path, name: str) -> dict:
    """Wait for a stage; its summary (with the sampled-reward curve for GRPO) or a SystemExit with its log's tail."""
    if proc.wait() != 0:
        raise SystemExit(f"{name} failed (rc {proc.returncode}):\n{(out / f'{name}.log').read_text()[-3000:]}")
    summary = json.loads((out / name / "summary.json").read_text())
    history = json.loads((out / name / "log_history.json").read_text())
    summary["reward_curve"] = [[h["step"], h["reward"]] for h in history if "reward" in h]
    return summary


def seed_suffix(seed: int) -> str:
    """What a stage's name adds for its SFT seed: nothing for the trainer's default (as in the earlier runs' records),
    so ``sft_1500`` / ``grpo_from_sft_lr0.0003``, else ``sft_1500_seed1`` / ``grpo_from_sft_seed1_lr0.0003``."""
    return "" if seed == 42 else f"_seed{seed}"


def sft_name(steps: int, seed: int) -> str:
    return f"sft_{steps}{seed_suffix(seed)}"


def portable(cmd: list[str], out: Path) -> list[str]:
    """A stage's command with ``--out`` written as ``$OUT``: the same request on another machine compares equal."""
    return [arg.replace(str(out), "$OUT") for arg in cmd]


def saved_command(out: Path, name: str) -> list[str] | None:
    """The command that trained the finished stage ``name`` under ``out``, or None."""
    path = out / name / "command.json"
    return json.loads(path.read_text()) if path.is_file() and (out / name / "summary.json").is_file() else None


def archive(out: Path, path: Path) -> None:
    """``results.json`` and every stage's log, summary, log history and learning curve (and any batch saved for a
    non-finite gradient) in one ``.tar.gz``, for a machine that hands back few files; replaced atomically so that a
    run killed later keeps the last one."""
    kept = ("summary.json", "log_history.json", "learning_curve.png")
    files = [out / "results.json", *sorted(out.glob("*.log"))]
    files += [f for stage in sorted(out.iterdir()) if stage.is_dir() for f in (stage / name for name in kept)]
    files += sorted(out.glob("*/nonfinite_step*/*"))  # save_nonfinite_batch: the batch and weights to replay
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for file in files:
            if file.is_file():
                tar.add(file, arcname=str(file.relative_to(out)))
    partial.replace(path)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="Output directory (models, logs, results.json).")
    parser.add_argument("--quick", action="store_true", help="A few steps of each stage: a smoke run, not a result.")
    parser.add_argument(
        "--env_kwargs",
        type=json.loads,
        default=ENV,
        help=f"The gridworld task of every stage, as JSON (default: that of {CONFIG}).",
    )
    parser.add_argument("--demonstrator", choices=["expert", "wall_blind"], default="expert")
    parser.add_argument("--epsilon", type=float, default=0.2, help="wall_blind: the random-move probability.")
    parser.add_argument("--demo_episodes", type=int, default=1000)
    parser.add_argument(
        "--sft_steps",
        type=int,
        nargs="+",
        default=[1500, 3000],
        help="One SFT run per value (a plateau check); GRPO starts from the first.",
    )
    parser.add_argument(
        "--sft_seeds",
        type=int,
        nargs="+",
        default=[42],
        help="SFT at the first --sft_steps once per seed (the first seed also at the other lengths), and every GRPO "
        "arm from each of these models: how much of the gain depends on the SFT model.",
    )
    parser.add_argument(
        "--sft_only",
        action="store_true",
        help="Stop after SFT (train the SFT models on one machine, run GRPO on another with the same --out: an SFT "
        "model whose recorded command matches is reused, any other is trained again).",
    )
    parser.add_argument("--rl_steps", type=int, default=360, help="GRPO optimizer steps (8 per rollout batch).")
    parser.add_argument(
        "--rl_lrs", type=float, nargs="*", default=[2e-4], help="One GRPO-from-SFT run each (none: no value)."
    )
    parser.add_argument(
        "--variant",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "FLAGS"),
        help="An extra GRPO-from-SFT run grpo_from_sft_NAME, at the first learning rate (or --rl_lr_default) with "
        "these flags added last (they win), e.g. --variant t15_batch '--temperature 1.5 --scale_rewards batch'. "
        "Repeat for several; all GRPO runs go in parallel.",
    )
    parser.add_argument("--rl_lr_default", type=float, default=1e-4, help="Variants' learning rate without --rl_lrs.")
    parser.add_argument("--no_scratch", action="store_true", help="Skip GRPO from the random init.")
    parser.add_argument(
        "--scratch_steps",
        type=int,
        default=None,
        help="GRPO steps from the random init (default --rl_steps): its episodes run to the length limit, so each "
        "step costs more than one from SFT.",
    )
    parser.add_argument("--eval_episodes", type=int, default=256)
    parser.add_argument(
        "--eval_every",
        type=int,
        default=120,
        help="GRPO runs also score the held-out episodes every N steps (success_curve); 0: before and after only.",
    )
    parser.add_argument(
        "--sft_flags",
        default="",
        help="Extra flags of every SFT run, e.g. '--learning_rate 1e-3 --warmup_steps 100' (the recipe's 3e-3 can "
        "stall behavioral cloning of the tiny model at a loss of ln(4)/2 for hundreds of steps: bench/RESULTS.md).",
    )
    parser.add_argument(
        "--grpo_flags",
        default="",
        help="Extra flags of every GRPO run, after recipes/configs/grpo_gridworld_walls.yaml (which holds the batch: "
        "256 episodes, 32 tasks x 8, per rollout, 8 optimizer steps each).",
    )
    parser.add_argument(
        "--deadline_s",
        type=float,
        default=0.0,
        help="Finish within this many seconds of the start (a job's time limit): each GRPO run gets the time left "
        "minus --deadline_margin_s as --max_train_seconds, stops there and still evaluates and reports "
        "(steps_done). 0: no deadline.",
    )
    parser.add_argument(
        "--deadline_margin_s",
        type=float,
        default=90.0,
        help="Time a GRPO run needs besides training: start-up, held-out evaluation before and after, saving.",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        default=None,
        help="Also write results.json with every stage's log, summary, log history and learning curve into this "
        ".tar.gz, updated as each stage finishes.",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.demo_episodes, args.sft_steps, args.rl_steps, args.rl_lrs, args.eval_episodes = 64, [20], 2, [1e-4], 8
        args.eval_every = 1
        args.grpo_flags = (
            "--per_device_train_batch_size 2 --steps_per_generation 2 --num_generations 2 --num_iterations 2"
        )
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env_kwargs = args.env_kwargs
    env_json, start = json.dumps(env_kwargs), time.time()
    results: dict = {"env": env_kwargs, "settings": vars(args), "stages": {}}

    def time_limit() -> list[str]:
        """--max_train_seconds for a GRPO run started now, from --deadline_s."""
        if args.deadline_s <= 0:
            return []
        left = args.deadline_s - (time.time() - start) - args.deadline_margin_s
        if left < 1:
            raise SystemExit(
                f"--deadline_s {args.deadline_s:g}: no time left to train after {time.time() - start:.0f} s."
            )
        return ["--max_train_seconds", f"{left:.0f}"]

    def record() -> None:
        stages = results["stages"]
        results["held_out_success"] = {
            name: s.get("after_success_rate", s.get("eval_env_success_rate")) for name, s in stages.items()
        }
        results["wall_time_s"] = round(time.time() - start, 1)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        if args.archive:
            archive(out, args.archive.resolve())

    # 1. Demonstrations (training seeds 0..) and the demonstrator's own held-out success.
    demonstrator = ExpertPolicy() if args.demonstrator == "expert" else WallBlindPolicy(args.epsilon)
    demos = collect_trajectories("gridworld", demonstrator, args.demo_episodes, env_kwargs=env_kwargs, progress=False)
    save_trajectories(demos, out / "demos")
    results["demonstrator_success_rate"] = evaluate_policy(
        demonstrator, "gridworld", args.eval_episodes, env_kwargs=env_kwargs, progress=False
    )["success_rate"]

    # 2. Behavioral cloning at several lengths, and GRPO from a random init (the recipe's tiny model, same size),
    #    all at once.
    grpo = [sys.executable, "recipes/grpo.py", "--config", CONFIG]
    grpo += ["--env_kwargs", env_json, "--max_steps", str(args.rl_steps), "--eval_episodes", str(args.eval_episodes)]
    grpo += ["--sft_episodes", str(args.demo_episodes), "--eval_every", str(args.eval_every), *args.grpo_flags.split()]
    procs, reused, sft_commands = {}, {}, {}
    # an SFT model's request includes what made the demonstrations, and the device: on a CUDA machine the recipe
    # packs sequences (fast_gpu_defaults), so the same steps see about twice the data they see on a CPU
    request = ["# demos:", demonstrator.name, str(args.demo_episodes), "cuda" if torch.cuda.is_available() else "cpu"]
    sft_runs = [(steps, args.sft_seeds[0]) for steps in args.sft_steps]
    sft_runs += [(args.sft_steps[0], seed) for seed in args.sft_seeds[1:]]
    for steps, seed in sft_runs:
        name = sft_name(steps, seed)
        cmd = ["recipes/sft.py", "--dataset_path", str(out / "demos"), "--env_name", "gridworld"]
        cmd += ["--env_kwargs", env_json, "--mode", "behavioral_cloning", "--max_steps", str(steps)]
        cmd += ["--seed", str(seed)]
        cmd += ["--eval_env_episodes", str(args.eval_episodes), "--eval_strategy", "no"]
        cmd += ["--eval_world_model_transitions", "0", "--output_dir", str(out / name), *args.sft_flags.split()]
        sft_commands[name] = [*portable(cmd, out), *request]
        if saved_command(out, name) == sft_commands[name]:
            print(f"{name}: reusing the model trained by the same command", flush=True)
            reused[name] = json.loads((out / name / "summary.json").read_text())
        else:
            procs[name] = run([sys.executable, *cmd], out, name, env)

    def done(name: str) -> dict:
        """Wait for a stage; an SFT model also records the command that trained it (for reuse)."""
        if name in reused:
            return reused[name]
        summary = finish(procs.pop(name), out, name)
        if name in sft_commands:
            (out / name / "command.json").write_text(json.dumps(sft_commands[name]))
        return summary

    lr = args.rl_lrs[0] if args.rl_lrs else args.rl_lr_default
    if not args.no_scratch and not args.sft_only:
        name = f"grpo_from_scratch_lr{lr:g}"
        cmd = [*grpo, "--learning_rate", str(lr), "--output_dir", str(out / name)]
        if args.scratch_steps is not None:
            cmd += ["--max_steps", str(args.scratch_steps)]
        procs[name] = run([*cmd, *time_limit()], out, name, env)

    # 3. GRPO from the SFT model of every seed (first length), one run per learning rate and per --variant, as soon
    #    as that model is saved.
    for seed in args.sft_seeds:
        first = sft_name(args.sft_steps[0], seed)
        results["stages"][first] = done(first)
        record()
        if args.sft_only:
            continue
        prefix = f"grpo_from_sft{seed_suffix(seed)}"
        runs = [(f"{prefix}_lr{x:g}", x, []) for x in args.rl_lrs]
        runs += [(f"{prefix}_{label}", lr, flags.split()) for label, flags in args.variant]
        for name, run_lr, flags in runs:
            cmd = [*grpo, "--model_name_or_path", str(out / first), "--learning_rate", str(run_lr)]
            procs[name] = run([*cmd, "--output_dir", str(out / name), *flags, *time_limit()], out, name, env)
    failed = []
    for name in list(procs):
        try:
            results["stages"][name] = done(name)
        except SystemExit as error:  # record the others before failing
            results["stages"][name], failed = {"error": str(error)[-3000:]}, [*failed, str(error)]
        record()
    if failed:
        raise SystemExit("\n\n".join(failed))
    print(report(results, args.eval_episodes), flush=True)
    return results


def report(results: dict, episodes: int) -> str:
    """Held-out success of every stage: SFT against the random policy, GRPO before and after (and where a time limit
    stopped it)."""
    rows = []
    for name, stage in results["stages"].items():
        if "before_success_rate" in stage:
            done, planned = stage.get("steps_done"), stage["max_steps"]
            stopped = f" (stopped at step {done} of {planned})" if done is not None and done < planned else ""
            rows.append((name + stopped, stage["before_success_rate"], stage["after_success_rate"]))
        elif "error" not in stage:
            before, after = stage.get("random_policy_success_rate"), stage.get("eval_env_success_rate")
            rows.append((f"{name} (before: the random policy)", before, after))
    title = f"Held-out success, {episodes} episodes from seed 1,000,000 ({results['wall_time_s']} s)"
    return before_after_table(rows, title=title)


if __name__ == "__main__":
    main()
