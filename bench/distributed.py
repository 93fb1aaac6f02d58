"""Multi-GPU training with TrajectorySFTTrainer on synthetic trajectories: loss curves, throughput, checkpoints.

Launch it like the recipe, with any Accelerate config:

    accelerate launch --config_file accelerate_configs/single_gpu.yaml bench/distributed.py --ga 4 --out /tmp/1gpu
    accelerate launch --config_file accelerate_configs/multi_gpu.yaml --num_processes 4 bench/distributed.py --out /tmp/ddp4
    accelerate launch --config_file accelerate_configs/fsdp2.yaml --num_processes 4 bench/distributed.py --out /tmp/fsdp4

The global batch is ``per_device_batch * num_processes * ga`` packed rows of ``max_length`` tokens and the data order
is seeded, so runs with the same global batch train on the same examples at every step: their loss curves must
agree (``bench/compare_runs.py``). Writes ``result.json`` (per-step losses, steady-state tokens/s, peak memory per
GPU) into ``--out``. ``--save_steps``/``--resume`` exercise sharded checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from accelerate import PartialState  # noqa: E402
from train_throughput import mrlm_dataset, synthetic_rows, tokenizer  # noqa: E402
from transformers import Qwen2Config, Qwen2ForCausalLM, TrainerCallback  # noqa: E402

from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer  # noqa: E402

SHAPES = {
    # Qwen2 architecture, vocab 32000, untied head.
    "415m": dict(
        hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864
    ),
    "3b": dict(
        hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2, intermediate_size=11008
    ),
}


class Meter(TrainerCallback):
    def __init__(self) -> None:
        self.points: list[tuple[int, float, int]] = []  # (step, time, tokens) at each training log
        self.trainer = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if "loss" not in (logs or {}):
            return
        torch.cuda.synchronize()
        self.points.append((state.global_step, time.perf_counter(), self.trainer._total_train_tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=list(SHAPES), default="415m")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--per_device_batch", type=int, default=8)
    parser.add_argument("--ga", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--rows", type=int, default=3200)
    parser.add_argument("--max_length", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--save_steps", type=int, default=0)
    parser.add_argument("--logging_steps", type=int, default=1, help="1 gives the per-step loss curve")
    parser.add_argument("--resume", default=None, help="checkpoint directory to resume from")
    parser.add_argument("--gradient_checkpointing", action="store_true")
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (r=16 on attention and MLP)")
    parser.add_argument(
        "--find_unused_parameters",
        action="store_true",
        help="DDP's unused-parameter search (what transformers turns on when checkpointing is off); default off",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = PartialState()

    config = Qwen2Config(
        vocab_size=32000, max_position_embeddings=2048, tie_word_embeddings=False, **SHAPES[args.shape]
    )
    torch.manual_seed(0)
    with torch.device(f"cuda:{state.local_process_index}"):
        model = Qwen2ForCausalLM(config)  # fp32 master weights, bf16 autocast
    params = sum(p.numel() for p in model.parameters())
    peft_config = None
    if args.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=16,
            lora_alpha=32,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        )
    training = TrajectorySFTConfig(
        output_dir=args.out,
        max_steps=args.steps,
        per_device_train_batch_size=args.per_device_batch,
        gradient_accumulation_steps=args.ga,
        learning_rate=3e-4,
        lr_scheduler_type="constant",
        max_length=args.max_length,
        logging_steps=args.logging_steps,
        save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500,
        report_to="none",
        bf16=True,
        seed=0,
        data_seed=0,
        dataloader_num_workers=2,
        mode="combined",
        activation_checkpointing=args.gradient_checkpointing,
        fast_gpu_defaults=not args.gradient_checkpointing,
        packing=True,
        ddp_find_unused_parameters=True if args.find_unused_parameters else None,  # None: the library's default
    )
    meter = Meter()
    trainer = TrajectorySFTTrainer(
        model,
        args=training,
        train_dataset=mrlm_dataset(synthetic_rows(args.rows)),
        processing_class=tokenizer(),
        callbacks=[meter],
        peft_config=peft_config,
    )
    meter.trainer = trainer
    torch.cuda.reset_peak_memory_stats()
    trainer.train(resume_from_checkpoint=args.resume)
    peak = torch.tensor([torch.cuda.max_memory_allocated() / 2**30], device=trainer.accelerator.device)
    peaks = trainer.accelerator.gather(peak).tolist()
    if state.is_main_process:
        steady = [p for p in meter.points if p[0] >= args.warmup] or meter.points
        (_, t0, n0), (_, t1, n1) = steady[0], meter.points[-1]
        losses = {
            h["step"]: {k: h[k] for k in ("loss", "loss_bc", "loss_wm") if k in h}
            for h in trainer.state.log_history
            if "loss" in h
        }
        result = {
            "device": torch.cuda.get_device_name(0),
            "num_processes": state.num_processes,
            "distributed_type": str(trainer.accelerator.distributed_type),
            "shape": args.shape,
            "params": params,
            "global_batch_rows": args.per_device_batch * state.num_processes * args.ga,
            "tokens_per_s": (n1 - n0) / (t1 - t0) if t1 > t0 else None,
            "peak_memory_gb_per_gpu": peaks,
            "fast_kernels": getattr(trainer, "fast_kernels", []),
            "ddp_find_unused_parameters": training.ddp_find_unused_parameters,
            "losses": losses,
            "resumed_from": args.resume,
        }
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "result.json").write_text(json.dumps(result, indent=2))
        print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "losses"}), flush=True)


if __name__ == "__main__":
    main()
