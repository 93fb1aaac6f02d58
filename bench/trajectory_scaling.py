"""How training cost grows with trajectory length: one sequence per trajectory versus one example per step.

    python bench/trajectory_scaling.py [--turns 2 8 32] [--trajectories 16]

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
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--trajectories", type=int, default=16)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    tokenizer = build_tokenizer([" ".join(WORDS)] * 10, vocab_size=300)
    results = []
    for turns in args.turns:
        data = trajectories_from_rows(rows(args.trajectories, turns))
        row = {"turns": turns}
        for layout in ("trajectory", "transition"):
            tokenized, _ = tokenize_trajectories(data, tokenizer, "combined", max_length=None, layout=layout)
            tokens = sum(len(ids) for ids in tokenized["input_ids"])
            model = build_model(tokenizer, hidden_size=64, intermediate_size=128)
            config = TrajectorySFTConfig(
                output_dir="/tmp/trajectory-scaling",
                num_train_epochs=1,
                per_device_train_batch_size=4,
                report_to="none",
                save_strategy="no",
                gradient_checkpointing=False,
                max_length=None,
                logging_steps=1000,
                disable_tqdm=True,
                fast_gpu_defaults=False,
            )
            trainer = TrajectorySFTTrainer(model, args=config, train_dataset=tokenized, processing_class=tokenizer)
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
            row[layout] = {
                "examples": len(tokenized),
                "tokens_per_trajectory": tokens / args.trajectories,
                "train_seconds": seconds,
                "tokens_per_s": tokens / seconds,
            }
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
