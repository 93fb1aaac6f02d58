"""Training throughput: plain TRL SFTTrainer versus TrajectorySFTTrainer, same data, same token budget, one GPU.

    python bench/train_throughput.py                       # every configuration, one subprocess each
    python bench/train_throughput.py --configs trl_padded_b32 mrlm_varlen --rows 3000

Model: Qwen2 architecture, 415M parameters (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864,
vocab 32000, untied head), random init, bf16. Data: synthetic trajectory-shaped rows, context 64-768 tokens, targets
16-256 tokens (the first half an action, the rest the next observation), max length 1024. TRL gets the same rows as
prompt/completion token ids (``completion_mask``); mrlm_hf gets them with token types, combined mode 0.5/0.5.
Reported: steady-state non-pad tokens/s after ``--warmup`` steps, MFU = 6 * params * tokens/s / 989e12, peak memory.
``--check`` compares the loss of the fast path with the padded path on a small model first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, TrainerCallback  # noqa: E402

PEAK_FLOPS = 989e12  # H100 SXM dense bf16

FAST = {"per_device_train_batch_size": 32, "packing": True, "gradient_checkpointing": False, "fast_gpu_defaults": False}
CONFIGS = {
    # name: (trainer, settings). "attn"/"liger"/"compile" are applied by this script; the rest are config fields.
    "trl_padded_b32": ("trl", {"per_device_train_batch_size": 32}),
    "mrlm_padded_b32": ("mrlm", {"per_device_train_batch_size": 32, "fast_gpu_defaults": False}),
    "mrlm_varlen": ("mrlm", {**FAST, "attn": "varlen"}),
    "mrlm_varlen_liger": ("mrlm", {**FAST, "attn": "varlen", "liger": True}),
    "mrlm_varlen_liger_compile": ("mrlm", {**FAST, "attn": "varlen", "liger": True, "compile": True}),
    "mrlm_flex": ("mrlm", {**FAST, "attn": "flex_attention"}),
    # What a user gets on a GPU without choosing anything (fast_gpu_defaults=True).
    "mrlm_gpu_defaults": ("mrlm", {"per_device_train_batch_size": 32}),
}


def model_config(small: bool = False) -> Qwen2Config:
    if small:
        return Qwen2Config(
            vocab_size=32000,
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=256,
            max_position_embeddings=2048,
            tie_word_embeddings=False,
        )
    return Qwen2Config(
        vocab_size=32000,
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
    )


def tokenizer() -> PreTrainedTokenizerFast:
    """A tokenizer object the trainers can hold; the data is already token ids."""
    from tokenizers import Tokenizer, models

    vocab = {f"t{i}": i for i in range(32000)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="t1"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="t0", eos_token="t2", unk_token="t1")


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        context = int(torch.randint(64, 769, (1,), generator=g))
        target = int(torch.randint(16, 257, (1,), generator=g))
        ids = torch.randint(100, 32000, (context + target,), generator=g).tolist()
        action = target // 2
        rows.append({"input_ids": ids, "context": context, "action": action, "target": target})
    return rows


def trl_dataset(rows: list[dict]) -> Dataset:
    return Dataset.from_list(
        [{"input_ids": r["input_ids"], "completion_mask": [0] * r["context"] + [1] * r["target"]} for r in rows]
    )


def mrlm_dataset(rows: list[dict]) -> Dataset:
    out = []
    for r in rows:
        types = [0] * r["context"] + [1] * r["action"] + [2] * (r["target"] - r["action"])
        labels = [i if t else -100 for i, t in zip(r["input_ids"], types)]
        out.append({"input_ids": r["input_ids"], "labels": labels, "token_types": types})
    return Dataset.from_list(out)


class Meter(TrainerCallback):
    """Records (time, trained-on non-pad tokens) at every optimizer step."""

    def __init__(self) -> None:
        self.points: list[tuple[int, float, int]] = []  # (step, time, tokens) at each training log
        self.trainer = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if "loss" not in (logs or {}):
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.points.append((state.global_step, time.perf_counter(), self.trainer._total_train_tokens))


def run(name: str, rows: int, warmup: int, small: bool = False) -> dict:
    from trl import SFTConfig, SFTTrainer

    from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer
    from mrlm_hf.attention import register_varlen_attention

    kind, settings = CONFIGS[name]
    settings = dict(settings)
    attn = settings.pop("attn", "sdpa")
    liger = settings.pop("liger", False)
    compile_ = settings.pop("compile", False)
    if attn == "varlen":
        register_varlen_attention()
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    model = Qwen2ForCausalLM(model_config(small)).to(torch.bfloat16 if cuda else torch.float32)
    model.set_attn_implementation(attn)
    if liger:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen2

        apply_liger_kernel_to_qwen2(
            rope=True, rms_norm=True, swiglu=True, cross_entropy=False, fused_linear_cross_entropy=False, model=model
        )
    params = sum(p.numel() for p in model.parameters())
    data = synthetic_rows(rows)
    common = dict(
        output_dir=f"/tmp/bench-{name}",
        num_train_epochs=1,
        max_length=1024,
        report_to="none",
        save_strategy="no",
        logging_steps=10,
        bf16=cuda,
        use_cpu=not cuda,
        torch_compile=compile_,
        **settings,
    )
    meter = Meter()
    if kind == "trl":
        args = SFTConfig(completion_only_loss=True, **common)
        trainer = SFTTrainer(
            model, args=args, train_dataset=trl_dataset(data), processing_class=tokenizer(), callbacks=[meter]
        )
    else:
        args = TrajectorySFTConfig(mode="combined", dataloader_num_workers=2 if cuda else 0, **common)
        trainer = TrajectorySFTTrainer(
            model, args=args, train_dataset=mrlm_dataset(data), processing_class=tokenizer(), callbacks=[meter]
        )
    meter.trainer = trainer
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    steady = [p for p in meter.points if p[0] >= warmup] or meter.points
    (_, t0, n0), (_, t1, n1) = steady[0], meter.points[-1]
    tokens_per_s = (n1 - n0) / (t1 - t0)
    return {
        "config": name,
        "params": params,
        "steps": meter.points[-1][0],
        "warmup_steps": warmup,
        "tokens": meter.points[-1][2],
        "tokens_per_s": tokens_per_s,
        "mfu": 6 * params * tokens_per_s / PEAK_FLOPS,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "wall_s": total,
        "settings": {**CONFIGS[name][1]},
    }


def check() -> dict:
    """Loss of the fast path against the padded path on a small model (fp32 padding-free; bf16 varlen)."""
    from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer
    from mrlm_hf.attention import register_varlen_attention
    from mrlm_hf.collator import TrajectoryCollator

    register_varlen_attention()
    examples = mrlm_dataset(synthetic_rows(8, seed=1)).to_list()
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(model_config(small=True)).to("cuda", dtype)
        args = TrajectorySFTConfig(
            output_dir="/tmp/bench-check", report_to="none", bf16=dtype == torch.bfloat16, max_length=1024
        )
        trainer = TrajectorySFTTrainer(
            model, args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer()
        )
        trainer.model.eval()
        losses = {}
        for label, padding_free, attn in (
            ("padded_sdpa", False, "sdpa"),
            ("padding_free_sdpa", True, "sdpa"),
            ("padding_free_varlen", True, "varlen"),
        ):
            if attn == "varlen" and dtype == torch.float32:
                continue  # FlashAttention kernels run in 16-bit only
            model.set_attn_implementation(attn)
            batch = TrajectoryCollator(pad_token_id=0, padding_free=padding_free)(examples)
            batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                losses[label] = float(trainer.compute_loss(trainer.model, batch))
        ref = losses["padded_sdpa"]
        out[str(dtype)] = {
            **losses,
            **{f"rel_diff_{k}": abs(v - ref) / ref for k, v in losses.items() if k != "padded_sdpa"},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--run", help="internal: run one configuration in this process")
    parser.add_argument("--check", action="store_true", help="compare fast-path and padded losses first")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--small", action="store_true", help="a 2-layer model: a smoke test of the script itself")
    args = parser.parse_args()
    if args.run:
        print("RESULT " + json.dumps(run(args.run, args.rows, args.warmup, args.small)), flush=True)
        return
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results = {"device": device, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "runs": []}
    if args.check:
        results["check"] = check()
        print(json.dumps(results["check"], indent=2), flush=True)
    for name in args.configs:
        command = [sys.executable, __file__, "--run", name, "--rows", str(args.rows), "--warmup", str(args.warmup)]
        proc = subprocess.run(command + (["--small"] if args.small else []), capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{name} failed:\n{proc.stderr[-3000:]}", flush=True)
            results["runs"].append({"config": name, "error": proc.stderr[-1500:]})
            continue
        result = json.loads(line[len("RESULT ") :])
        results["runs"].append(result)
        print(
            f"{name:24s} {result['tokens_per_s']:>10.0f} tok/s  MFU {100 * result['mfu']:5.1f}%  "
            f"peak {result['peak_memory_gb']:5.1f} GB  ({result['steps']} steps, {result['wall_s']:.0f} s)",
            flush=True,
        )
    base = next((r for r in results["runs"] if r.get("config") == "trl_padded_b32" and "tokens_per_s" in r), None)
    if base:
        for r in results["runs"]:
            if "tokens_per_s" in r:
                r["ratio_vs_trl"] = r["tokens_per_s"] / base["tokens_per_s"]
                print(f"{r['config']:24s} {r['ratio_vs_trl']:.2f}x TRL")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
