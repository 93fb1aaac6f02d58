"""Replay the micro-batch that a GRPO run saved at its first non-finite gradient (``save_nonfinite_batch``): the loss
and gradient norm of that batch on the saved weights, through each way of scoring it, to find which one fails.

    python bench/replay_nonfinite.py outputs/grpo-walls/nonfinite_step465 --out replay.json
    python bench/replay_nonfinite.py runs/*/nonfinite_step* --config recipes/configs/grpo_gridworld_walls.yaml

Ways: ``padding_free`` (the packed rows of ``PackedLogProbs``; on a GPU the packed FlashAttention kernel), and TRL's
padded rows under SDPA and under eager attention; each in bf16 autocast (where the device has it) and fp32, repeated
(``--repeats``) to tell a deterministic failure from a racy one. The loss settings (temperature, loss type, clipping)
come from ``--config``, the recipe YAML the run used. This is how the NaN gradients of bf16 GRPO runs were traced to
SDPA's padded (memory-efficient) backward (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrlm_hf.rl import EnvGRPOConfig, EnvGRPOTrainer, env_prompt_dataset  # noqa: E402

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
WAYS = {"padding_free": ("sdpa", True), "padded_sdpa": ("sdpa", False), "padded_eager": ("eager", False)}


def replay(folder: Path, config: dict, repeats: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = torch.load(folder / "inputs_rank0.pt", weights_only=False)
    prompts = env_prompt_dataset("gridworld", 2, seed=0)  # the trainer needs a dataset; the batch is the saved one
    results = {}
    for way, (attention, padding_free) in WAYS.items():
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attention)
        for precision in ("bf16", "fp32") if cuda else ("fp32",):
            args = EnvGRPOConfig(
                **{
                    **config,
                    "output_dir": str(folder / "replay"),
                    "use_cpu": not cuda,
                    "bf16": precision == "bf16",
                    "padding_free": padding_free,
                    "report_to": "none",
                    "save_strategy": "no",
                    "activation_checkpointing": False,
                }
            )
            trainer = EnvGRPOTrainer(model, args, prompts, tokenizer)
            trainer.current_gradient_accumulation_steps = 1
            trainer.model.train()
            device = trainer.accelerator.device
            inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            for repeat in range(repeats):
                trainer.model.zero_grad(set_to_none=True)
                loss = trainer.compute_loss(trainer.model, inputs)
                loss.backward()
                grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
                bad = [
                    n for n, p in trainer.model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()
                ]
                key = f"{way}/{precision}/{repeat}"
                results[key] = {
                    "loss": loss.item(),
                    "grad_norm": torch.nn.utils.get_total_norm(grads).item(),
                    "nonfinite_parameters": len(bad),
                    "first_nonfinite": bad[:3],
                }
                print(folder.name, key, json.dumps(results[key]), flush=True)
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="nonfinite_step<N> folders (weights + inputs_rank0.pt).")
    parser.add_argument("--config", default="recipes/configs/grpo_gridworld_walls.yaml", help="The run's recipe YAML.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="Write every result here as JSON.")
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(EnvGRPOConfig)}
    config = {k: v for k, v in yaml.safe_load(Path(args.config).read_text()).items() if k in fields}
    config = {k: v for k, v in config.items() if k not in ("output_dir", "save_nonfinite_batch")}
    results = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "config": args.config,
        "folders": {str(folder): replay(folder, config, args.repeats) for folder in args.folders},
    }
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
