"""How training cost grows with trajectory length: one sequence per trajectory versus one example per step.

    python bench/trajectory_scaling.py [--turns 2 8 32] [--trajectories 16]
    python bench/trajectory_scaling.py --model bench --trajectories 64     # on a GPU: the 415M model, bf16

Synthetic trajectories of T turns (observations of ~40 tokens, actions of ~10) are tokenized in both layouts with a
local tokenizer; the script reports the tokens that must be processed per trajectory and the wall time of training
steps over them with a tiny model on whatever device is present (CPU here). The trajectory layout processes O(T)
tokens for T training steps, the per-transition layout O(T^2), because every example repeats the history.
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
    """Tokens processed: all of them for a full epoch, else the fraction of the epoch's steps that ran."""
    steps_per_epoch = max(1, len(trainer.get_train_dataloader()))
    return tokens * min(1.0, trainer.state.global_step / steps_per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--trajectories", type=int, default=16)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--model",
        choices=["tiny", "bench"],
        default="tiny",
        help="tiny: 2 layers of 64 (CPU); bench: the 415M model of bench/train_throughput.py, bf16, GPU defaults",
    )
    parser.add_argument("--max_steps", type=int, default=-1, help="cap the optimizer steps per run (-1: one epoch)")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    tokenizer = build_tokenizer([" ".join(WORDS)] * 10, vocab_size=300)
    results = []
    # A first run warms up the GPU (kernels, allocator, Liger's Triton compilation); its figures are dropped.
    for turns in ([args.turns[0]] if gpu else []) + args.turns:
        data = trajectories_from_rows(rows(args.trajectories, turns))
        row = {"turns": turns}
        for layout in ("trajectory", "transition"):
            tokenized, _ = tokenize_trajectories(data, tokenizer, "combined", max_length=None, layout=layout)
            tokens = sum(len(ids) for ids in tokenized["input_ids"])
            if args.model == "bench":
                from train_throughput import model_config
                from transformers import Qwen2ForCausalLM

                config_ = model_config()
                config_.vocab_size = len(tokenizer)
                model = Qwen2ForCausalLM(config_).to(torch.bfloat16 if gpu else torch.float32)
            else:
                model = build_model(tokenizer, hidden_size=64, intermediate_size=128)
            if gpu:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            config = TrajectorySFTConfig(
                output_dir="/tmp/trajectory-scaling",
                num_train_epochs=1,
                per_device_train_batch_size=4,
                report_to="none",
                save_strategy="no",
                gradient_checkpointing=False,
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
            row[layout] = {
                "examples": len(tokenized),
                "tokens_per_trajectory": tokens / args.trajectories,
                "train_seconds": seconds,
                "tokens_per_s": trained_tokens(trainer, tokens) / seconds,
                "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
            }
            del trainer, model
        if gpu and not results and "warm_up" not in row:
            row["warm_up"] = True
        results.append(row)
        print(
            f"T={turns:3d}  tokens/trajectory: trajectory {row['trajectory']['tokens_per_trajectory']:8.0f}  "
            f"transition {row['transition']['tokens_per_trajectory']:8.0f}  |  train seconds: trajectory "
            f"{row['trajectory']['train_seconds']:6.1f}  transition {row['transition']['train_seconds']:6.1f}",
            flush=True,
        )
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": device, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
