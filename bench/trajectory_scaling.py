"""How training cost grows with trajectory length: one sequence per trajectory versus one example per step.

    python bench/trajectory_scaling.py [--turns 2 8 32] [--trajectories 16]
    python bench/trajectory_scaling.py --model bench --trajectories 64     # on a GPU: the 415M model, bf16
    python bench/trajectory_scaling.py --model bench --trajectories 32 --max_steps 8 --turns 2 8 32 64 \
        --batch_sizes 2 8 --out scaling.json --plot scaling.png                 # the cost-growth plot

Synthetic trajectories of T turns (observations of ~40 tokens, actions of ~10) are tokenized in both layouts with a
local tokenizer; the script reports the tokens that must be processed per trajectory and the wall time of training
steps over them with a tiny model on whatever device is present (CPU here). The trajectory layout processes O(T)
tokens for T training steps, the per-transition layout O(T^2), because every example repeats the history.
``--batch_sizes`` repeats each run at several per-device batch sizes; ``--plot`` draws training tokens/s, peak GPU
memory and the seconds one trajectory costs against T (one line per layout and batch size). The JSON and the PNG are
rewritten after every length, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402

from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer, tokenize_trajectories, trajectories_from_rows  # noqa: E402
from mrlm_hf.tiny import build_model, build_tokenizer  # noqa: E402

WORDS = "north south east west door key wall open closed room table lamp box red blue green".split()


def rows(n: int, turns: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        observations = [" ".join(rng.choice(WORDS) for _ in range(30)) for _ in range(turns + 1)]
        actions = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(turns)]
        out.append(
            {
                "env_name": "synthetic",
                "seed": i,
                "observations": observations,
                "actions": actions,
                "rewards": [0.0] * turns,
            }
        )
    return out


def trained_tokens(trainer: TrajectorySFTTrainer, tokens: int) -> float:
    """Tokens processed: TRL's own count (``num_tokens`` in the log history: the input tokens the steps saw) when
    it logged one, else the fraction of the epoch's steps that ran times the epoch's tokens."""
    seen = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    if seen:
        return float(max(seen))
    steps_per_epoch = max(1, len(trainer.get_train_dataloader()))
    return tokens * min(1.0, trainer.state.global_step / steps_per_epoch)


def plot(results: list[dict], path: str, device: str) -> None:
    """Training tokens/s, peak memory and time per trajectory against trajectory length, one line per layout and
    batch size (warm-up rows left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if not r.get("warm_up")]
    panels = [
        ("tokens_per_s", "training tokens/s"),
        ("peak_memory_gb", "peak memory (GiB)"),
        ("seconds_per_trajectory", "seconds per trajectory"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4))
    for ax, (key, label) in zip(axes, panels):
        for (layout, batch), points in series(rows, key).items():
            turns, values = zip(*points)
            ax.plot(
                turns,
                values,
                marker="o",
                linestyle="-" if layout == "trajectory" else "--",
                label=f"{layout}, batch {batch}",
            )
        ax.set_xscale("log", base=2)
        lengths = sorted({r["turns"] for r in rows})
        ax.set_xticks(lengths, [str(t) for t in lengths])
        if not series(rows, key):
            ax.text(0.5, 0.5, "not measured (no GPU)", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("turns per trajectory")
        ax.set_ylabel(label)
        if key == "seconds_per_trajectory":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Training cost against trajectory length ({device})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def series(rows: list[dict], key: str) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """``{(layout, batch): [(turns, value), ...]}`` for the measurements that have ``key`` (e.g. no memory on CPU)."""
    out: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for row in rows:
        for layout in ("trajectory", "transition"):
            for run in row.get(layout, []):
                if run.get(key) is not None:
                    out.setdefault((layout, run["batch_size"]), []).append((row["turns"], run[key]))
    return {k: sorted(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--trajectories", type=int, default=16)
    parser.add_argument(
        "--batch_sizes", type=int, nargs="+", default=[4], help="per-device batch sizes (packed rows on GPU)"
    )
    parser.add_argument("--out", default=None)
    parser.add_argument("--plot", default=None, help="write a PNG of tokens/s, peak memory and time per trajectory")
    parser.add_argument(
        "--model",
        choices=["tiny", "bench"],
        default="tiny",
        help="tiny: 2 layers of 64 (CPU); bench: the 415M model of bench/train_throughput.py, bf16, GPU defaults",
    )
    parser.add_argument("--max_steps", type=int, default=-1, help="cap the optimizer steps per run (-1: one epoch)")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if gpu else "cpu"
    tokenizer = build_tokenizer([" ".join(WORDS)] * 10, vocab_size=300)
    results = []
    # A first run warms up the GPU (kernels, allocator, Liger's Triton compilation); its figures are dropped.
    for index, turns in enumerate(([args.turns[0]] if gpu else []) + args.turns):
        data = trajectories_from_rows(rows(args.trajectories, turns))
        row = {"turns": turns}
        if gpu and index == 0:
            row["warm_up"] = True
        for layout in ("trajectory", "transition"):
            tokenized, _ = tokenize_trajectories(data, tokenizer, "combined", max_length=None, layout=layout)
            tokens = sum(len(ids) for ids in tokenized["input_ids"])
            row[layout] = []
            for batch_size in args.batch_sizes[:1] if row.get("warm_up") else args.batch_sizes:
                row[layout].append(train_once(args, tokenizer, tokenized, tokens, batch_size, gpu))
        results.append(row)
        print(
            f"T={turns:3d}  tokens/trajectory: trajectory {row['trajectory'][0]['tokens_per_trajectory']:8.0f}  "
            f"transition {row['transition'][0]['tokens_per_trajectory']:8.0f}  |  tokens/s by batch: trajectory "
            f"{[round(r['tokens_per_s']) for r in row['trajectory']]}  transition "
            f"{[round(r['tokens_per_s']) for r in row['transition']]}",
            flush=True,
        )
        # Written after every length, so a run cut short (a time limit) keeps what it measured.
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"device": device, "model": args.model, "results": results}, f, indent=2)
        if args.plot and not row.get("warm_up"):
            plot(results, args.plot, device)


def train_once(args, tokenizer, tokenized, tokens: int, batch_size: int, gpu: bool) -> dict:
    """Train one run over ``tokenized`` (at most ``--max_steps`` steps); its throughput and peak memory."""
    if args.model == "bench":
        from train_throughput import model_config
        from transformers import Qwen2ForCausalLM

        config_ = model_config()
        config_.vocab_size = len(tokenizer)
        with torch.device("cuda" if gpu else "cpu"):  # initialised in place: fast on a GPU
            model = Qwen2ForCausalLM(config_).to(torch.bfloat16 if gpu else torch.float32)
    else:
        model = build_model(tokenizer, hidden_size=64, intermediate_size=128)
    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    config = TrajectorySFTConfig(
        output_dir="/tmp/trajectory-scaling",
        num_train_epochs=1,
        per_device_train_batch_size=batch_size,
        report_to="none",
        save_strategy="no",
        activation_checkpointing=False,
        max_length=8192 if args.model == "bench" else None,  # the GPU defaults pack rows of max_length
        logging_steps=1000,
        disable_tqdm=True,
        fast_gpu_defaults=gpu and args.model == "bench",
        bf16=gpu and args.model == "bench",
        use_cpu=not gpu,
        max_steps=args.max_steps,
    )
    trainer = TrajectorySFTTrainer(model, args=config, train_dataset=tokenized, processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    processed = trained_tokens(trainer, tokens)
    result = {
        "batch_size": batch_size,
        "examples": len(tokenized),
        "tokens_per_trajectory": tokens / args.trajectories,
        "train_seconds": seconds,
        "optimizer_steps": trainer.state.global_step,
        "tokens_per_s": processed / seconds,
        # The time one trajectory's tokens take at this rate: the cost of a trajectory of this length.
        "seconds_per_trajectory": tokens / args.trajectories / (processed / seconds),
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
    }
    del trainer, model
    return result


if __name__ == "__main__":
    main()
