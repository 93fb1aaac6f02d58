"""Training throughput: TRL's SFTTrainer at its defaults and at its best settings versus TrajectorySFTTrainer, same
data, same token budget, one GPU, one subprocess per configuration.

    python bench/train_throughput.py                       # every configuration
    python bench/train_throughput.py --configs trl_packed_flex_liger mrlm_gpu_defaults --max_steps 40

Model: Qwen2 architecture, 415M parameters (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864,
vocab 32000, untied head), random init, bf16. Data: synthetic trajectory-shaped rows, context 64-768 tokens, targets
16-256 tokens (the first half an action, the rest the next observation), max length 1024. TRL gets the same rows as
prompt/completion token ids (``completion_mask``); mrlm_hf gets them with token types, combined mode 0.5/0.5.

Every row is measured the same way: tokens are the non-pad input tokens of the batches trained (counted on the
device by this script, the same for every trainer); steady-state tokens/s from the end of step ``--warmup`` to the
last step; ``first_step_s`` and ``warmup_s`` (train start to the end of step 1 / step ``--warmup``) hold compilation,
and ``compile_s`` = ``warmup_s`` - ``--warmup`` x the steady step time estimates it. MFU = 6 x params x tokens/s /
989e12 (params: all, embeddings included, as in earlier results); ``mfu_with_attention`` adds the causal
attention matmuls within each sequence (3 x 4 x layers x hidden x n(n+1)/2 FLOPs per sequence of n tokens).
``--repeats`` runs the configurations several times in alternating order and compares their means;
``--warm_machine`` runs one unrecorded warm-up first; ``--profile`` adds 5 profiled steps after the timed ones.
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

FAST = {
    "per_device_train_batch_size": 32,
    "packing": True,
    "activation_checkpointing": False,
    "fast_gpu_defaults": False,
}
# TRL's fast settings: packing (bfd, which makes batches padding-free), no activation checkpointing, a data loader
# with workers like mrlm_hf's; "pad_to_multiple_of" = 32 x 1024 gives every padding-free batch one shape, so that
# torch.compile compiles once.
TRL_FAST = {"per_device_train_batch_size": 32, "packing": True, "activation_checkpointing": False, "workers": 2}
ONE_SHAPE = {"pad_to_multiple_of": 32 * 1024}
# Batches copied to the GPU without the host waiting (transformers' accelerator_config, with the loader's pinned
# memory): a blocking copy waits for the previous step's kernels, so the GPU's queue runs dry at every step.
NON_BLOCKING = {"accelerator_config": {"non_blocking": True}}
CONFIGS = {
    # name: (trainer, settings). "attn"/"liger"/"compile"/"workers" are applied by this script; the rest are
    # config fields.
    "trl_padded_b32": ("trl", {"per_device_train_batch_size": 32}),  # TRL's defaults
    "trl_packed_flex": ("trl", {**TRL_FAST, "attn": "flex_attention"}),
    "trl_packed_flex_liger": ("trl", {**TRL_FAST, "attn": "flex_attention", "liger": True}),
    "trl_packed_flex_liger_compile": (
        "trl",
        {**TRL_FAST, **ONE_SHAPE, "attn": "flex_attention", "liger": True, "compile": True},
    ),
    "trl_packed_flex_compile": ("trl", {**TRL_FAST, **ONE_SHAPE, "attn": "flex_attention", "compile": True}),
    # TRL given the packed-sequence FlashAttention that mrlm_hf registers (not something TRL ships): what mrlm_hf's
    # trainer adds beyond the attention kernel.
    "trl_packed_varlen_liger": ("trl", {**TRL_FAST, "attn": "varlen", "liger": True}),
    "trl_packed_varlen_liger_nonblocking": ("trl", {**TRL_FAST, **NON_BLOCKING, "attn": "varlen", "liger": True}),
    "mrlm_padded_b32": ("mrlm", {"per_device_train_batch_size": 32, "fast_gpu_defaults": False}),
    "mrlm_varlen": ("mrlm", {**FAST, "attn": "varlen"}),
    "mrlm_varlen_liger": ("mrlm", {**FAST, "attn": "varlen", "liger": True}),
    "mrlm_flex": ("mrlm", {**FAST, "attn": "flex_attention"}),
    # What a user gets on a GPU without choosing anything (fast_gpu_defaults=True), and the same with the trainer's
    # compile option (TrainingArguments.torch_compile), batches of one shape.
    "mrlm_gpu_defaults": ("mrlm", {"per_device_train_batch_size": 32}),
    "mrlm_gpu_defaults_nonblocking": ("mrlm", {"per_device_train_batch_size": 32, **NON_BLOCKING}),
    "mrlm_gpu_defaults_compile": ("mrlm", {"per_device_train_batch_size": 32, **ONE_SHAPE, "compile": True}),
    # torch.compile fusing the norms, SwiGLU and RoPE itself (no Liger, whose Triton calls cost the host about 0.2 ms
    # each: the profile's LigerRMSNorm host time) around the varlen attention. On an H200 it did not reach a second
    # step within 150 s, most likely recompiling for each packing (bench/RESULTS.md).
    "mrlm_varlen_compile": ("mrlm", {**FAST, **ONE_SHAPE, "attn": "varlen", "compile": True}),
}
# The order of a full run, most needed first, so that a run cut by its budget keeps the headline: ours, TRL's best
# without compilation, both with torch.compile, then the rest.
DEFAULT_ORDER = [
    "mrlm_gpu_defaults",
    "trl_packed_flex_liger",
    "trl_packed_flex_liger_compile",
    "mrlm_gpu_defaults_compile",
    "trl_packed_varlen_liger",
    "trl_padded_b32",
    "trl_packed_flex",
]


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


def attention_flops_per_token(rows: list[dict], config: Qwen2Config) -> float:
    """Training FLOPs per token of the causal attention matmuls (scores and weighted values, forward and backward)
    within each sequence: 3 x 2 matmuls x 2 x layers x (heads x head_dim) x n(n+1)/2 for a sequence of n tokens."""
    width = config.num_attention_heads * (
        getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    )
    lengths = [len(r["input_ids"]) for r in rows]
    return 3 * 4 * config.num_hidden_layers * width * sum(n * (n + 1) / 2 for n in lengths) / sum(lengths)


class Meter(TrainerCallback):
    """Times steps and counts the non-pad tokens trained, the same way for every trainer: the count is summed on the
    device (token id 0 is the pad; the synthetic ids are >= 100) and read at the recorded steps only. Records every
    step up to ``warmup`` (compilation shows there) and every ``every`` steps after; prints each record (a run cut
    short by its time limit keeps them). Steps after ``stop`` (profiled ones) are not timed."""

    def __init__(self, warmup: int, every: int = 10, stop: int | None = None) -> None:
        self.warmup, self.every, self.stop = warmup, every, stop
        self.points: list[tuple[int, float, int]] = []  # (step, time since train start, tokens)
        self.tokens: torch.Tensor | int = 0
        self.begin = 0.0

    def count(self, inputs: dict) -> None:
        self.tokens = self.tokens + (inputs["input_ids"] != 0).sum()

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_begin(self, args, state, control, **kwargs):
        self._sync()
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        step, last = state.global_step, self.stop or state.max_steps
        if step > last:
            return
        if step <= self.warmup or step % self.every == 0 or step == last:
            self._sync()
            self.points.append((step, time.perf_counter() - self.begin, int(self.tokens)))
            print("PROGRESS " + json.dumps(self.points[-1]), flush=True)


def summarize(points: list[tuple[int, float, int]], warmup: int, params: int, attention_flops: float) -> dict:
    """Steady-state tokens/s after step ``warmup``, compile-time estimates and MFU from the recorded points."""
    steady = [p for p in points if p[0] >= warmup] or points
    (s0, t0, n0), (s1, t1, n1) = steady[0], points[-1]
    if s1 == s0:  # too few steps to measure a steady state: the whole run
        (s0, t0, n0) = (0, 0.0, 0)
    tokens_per_s = (n1 - n0) / (t1 - t0)
    step_s = (t1 - t0) / (s1 - s0)
    warmup_point = next((p for p in points if p[0] == min(warmup, s1)), points[-1])
    return {
        "steps": s1,
        "steady_steps": s1 - s0,
        "tokens": n1,
        "tokens_per_s": tokens_per_s,
        "steady_step_s": step_s,
        "first_step_s": points[0][1],
        "warmup_s": warmup_point[1],
        "compile_s": max(0.0, warmup_point[1] - warmup_point[0] * step_s),
        "mfu": 6 * params * tokens_per_s / PEAK_FLOPS,
        "mfu_with_attention": (6 * params + attention_flops) * tokens_per_s / PEAK_FLOPS,
    }


class StepProfiler(TrainerCallback):
    """Profiles ``steps`` optimizer steps after ``start`` with torch.profiler: where a step's time goes (GPU kernel
    time against wall time: the rest is the GPU waiting for the host) and the most expensive kernels and host ops.
    The profiler slows the steps it records, so they come after the timed ones (``Meter(stop=...)``)."""

    steps = 5

    def __init__(self, start: int) -> None:
        self.start = start
        self.profiler = None
        self.began = 0.0
        self.summary: dict = {}

    def on_step_end(self, args, state, control, **kwargs):
        from torch.profiler import ProfilerActivity, profile

        if state.global_step == self.start:
            torch.cuda.synchronize()
            self.profiler = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            self.profiler.start()
            self.began = time.perf_counter()
        elif self.profiler is not None and state.global_step == self.start + self.steps:
            torch.cuda.synchronize()
            wall = time.perf_counter() - self.began
            self.profiler.stop()
            events = self.profiler.key_averages()
            kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
            gpu_s = sum(e.self_device_time_total for e in kernels) / 1e6
            top = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[:15]
            host = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
            host_top = sorted(host, key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
            self.summary = {
                "steps": self.steps,
                "wall_per_step_s": wall / self.steps,
                "gpu_kernel_per_step_s": gpu_s / self.steps,
                "kernel_launches_per_step": sum(e.count for e in kernels) / self.steps,
                "top_kernels_ms_per_step": [
                    (e.key[:90], e.self_device_time_total / 1e3 / self.steps, e.count // self.steps) for e in top
                ],
                "top_host_ops_ms_per_step": [
                    (e.key[:90], e.self_cpu_time_total / 1e3 / self.steps, e.count // self.steps) for e in host_top
                ],
            }
            self.profiler = None
            print("PROFILE " + json.dumps(self.summary), flush=True)


def run(name: str, rows: int, warmup: int, small: bool = False, max_steps: int = -1, profile: bool = False) -> dict:
    from trl import SFTConfig, SFTTrainer

    from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer
    from mrlm_hf.attention import register_varlen_attention

    kind, settings = CONFIGS[name]
    settings = dict(settings)
    if profile and max_steps <= 0:
        raise SystemExit("--profile needs --max_steps: the profiled steps run after the timed ones")
    if small:  # a CPU smoke test of the script: small batches, and batches of one shape at that size
        settings["per_device_train_batch_size"] = 4
        settings["pad_to_multiple_of"] = 4 * 1024 if "pad_to_multiple_of" in settings else None
    attn = settings.pop("attn", "sdpa")
    liger = settings.pop("liger", False)
    compile_ = settings.pop("compile", False)
    workers = settings.pop("workers", 0)
    cuda = torch.cuda.is_available()
    substituted = {}
    if small and not cuda:  # the CPU smoke test: FlexAttention has no backward on a CPU, Liger runs on GPUs only
        substituted = {"attn": attn, "liger": liger} if attn in ("flex_attention", "varlen") or liger else {}
        attn = "sdpa" if attn in ("flex_attention", "varlen") else attn
        liger = False
    if attn == "varlen":
        register_varlen_attention()
    torch.manual_seed(0)
    config = model_config(small)
    with torch.device("cuda" if cuda else "cpu"):  # initialised in place: fast on a GPU
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
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
        max_steps=max_steps + (StepProfiler.steps if profile else 0),
        max_length=1024,
        report_to="none",
        save_strategy="no",
        logging_steps=10,
        bf16=cuda,
        use_cpu=not cuda,
        torch_compile=compile_,
        **settings,
    )
    meter = Meter(warmup, stop=max_steps if profile else None)
    profiler = StepProfiler(start=max_steps) if profile and cuda else None
    callbacks = [meter] + ([profiler] if profiler else [])
    if kind == "trl":
        args = SFTConfig(completion_only_loss=True, dataloader_num_workers=workers if cuda else 0, **common)
        trainer = SFTTrainer(
            model, args=args, train_dataset=trl_dataset(data), processing_class=tokenizer(), callbacks=callbacks
        )
    else:
        args = TrajectorySFTConfig(mode="combined", dataloader_num_workers=2 if cuda else 0, **common)
        trainer = TrajectorySFTTrainer(
            model, args=args, train_dataset=mrlm_dataset(data), processing_class=tokenizer(), callbacks=callbacks
        )
    step = trainer.training_step

    def counted_step(model, inputs, *args, **kwargs):
        meter.count(inputs)
        return step(model, inputs, *args, **kwargs)

    trainer.training_step = counted_step
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    from torch._dynamo.utils import counters

    return {
        "config": name,
        "params": params,
        "warmup_steps": warmup,
        **summarize(meter.points, warmup, params, attention_flops_per_token(data, config)),
        "compiled_graphs": counters["stats"].get("unique_graphs", 0),
        "graph_breaks": sum(counters["graph_break"].values()),
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "wall_s": total,
        "settings": {**CONFIGS[name][1]},
        **({"cpu_smoke_test_replaced": substituted} if substituted else {}),
        **({"profile": profiler.summary} if profiler else {}),
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


def run_child(name: str, args: argparse.Namespace, timeout_s: float) -> dict:
    """One configuration in a fresh process, stopped after ``timeout_s``; a run cut short reports its last recorded
    step (how far compilation or training got)."""
    command = [sys.executable, __file__, "--run", name, "--rows", str(args.rows), "--warmup", str(args.warmup)]
    command += ["--max_steps", str(args.max_steps)] + (["--small"] if args.small else [])
    command += ["--profile"] if args.profile else []
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        timed_out = True
    lines = stdout.splitlines()
    result = next((x for x in lines if x.startswith("RESULT ")), None)
    if result is not None:
        return json.loads(result[len("RESULT ") :])
    progress = [json.loads(x[len("PROGRESS ") :]) for x in lines if x.startswith("PROGRESS ")]
    why = f"did not finish within {timeout_s:.0f} s" if timed_out else f"failed (exit {proc.returncode})"
    return {"config": name, "error": why, "last_step": progress[-1] if progress else None, "stderr": stderr[-1500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=DEFAULT_ORDER, choices=list(CONFIGS))
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--max_steps", type=int, default=-1, help="stop each run after this many steps (-1: one epoch)")
    parser.add_argument("--timeout_s", type=float, default=600, help="time limit of one configuration's process")
    parser.add_argument(
        "--budget_s",
        type=float,
        default=None,
        help="all configurations end within this many seconds: each gets min(--timeout_s, what is left); one with "
        "under a minute left is skipped",
    )
    parser.add_argument("--run", help="internal: run one configuration in this process")
    parser.add_argument("--check", action="store_true", help="compare fast-path and padded losses first")
    parser.add_argument("--out", default=None, help="write the results as JSON here (after every configuration)")
    parser.add_argument("--small", action="store_true", help="a 2-layer model: a smoke test of the script itself")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after --max_steps timed steps, profile 5 more (GPU kernel time against wall time)",
    )
    parser.add_argument(
        "--warm_machine", action="store_true", help="first run the first configuration for 12 steps, not recorded"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="run the configurations this many times, interleaved (run-to-run noise)"
    )
    args = parser.parse_args()
    if args.run:
        print(
            "RESULT " + json.dumps(run(args.run, args.rows, args.warmup, args.small, args.max_steps, args.profile)),
            flush=True,
        )
        return
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results = {"device": device, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "runs": []}
    results["command"] = " ".join(sys.argv)
    if args.check:
        results["check"] = check()
        print(json.dumps(results["check"], indent=2), flush=True)
    if args.warm_machine:  # a machine's first runs were seen to be slower (cause not known): not recorded
        warm = run_child(args.configs[0], argparse.Namespace(**{**vars(args), "max_steps": 12}), args.timeout_s)
        results["warm_machine"] = {k: warm.get(k) for k in ("config", "tokens_per_s", "first_step_s", "error")}
    began = time.perf_counter()
    # Rounds alternate the order (A B, B A, ...) so that no configuration always runs in the same position.
    order = [(r, n) for r in range(args.repeats) for n in (args.configs if r % 2 == 0 else args.configs[::-1])]
    for round_, name in order:
        timeout_s = args.timeout_s
        if args.budget_s is not None:
            timeout_s = min(timeout_s, args.budget_s - (time.perf_counter() - began))
            if timeout_s < 60:
                results["runs"].append({"config": name, "skipped": f"not started: budget of {args.budget_s:.0f} s"})
                print(f"{name:30s} skipped (budget)", flush=True)
                continue
        result = {**run_child(name, args, timeout_s), "round": round_}
        results["runs"].append(result)
        if "error" in result:
            print(
                f"{name:30s} {result['error']}; last step {result['last_step']}\n{result['stderr'][-600:]}", flush=True
            )
        else:
            print(
                f"{name:30s} {result['tokens_per_s']:>10.0f} tok/s  MFU {100 * result['mfu']:5.1f}% "
                f"({100 * result['mfu_with_attention']:5.1f}% with attention)  peak {result['peak_memory_gb']:5.1f} GB"
                f"  first step {result['first_step_s']:.1f} s, compile ~{result['compile_s']:.0f} s"
                f"  ({result['steps']} steps, {result['wall_s']:.0f} s)",
                flush=True,
            )
        compare(results)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)


def compare(results: dict) -> None:
    """Ratios of every measured row to TRL's defaults and to TRL's fastest measured configuration (``trl_*``
    rows that are TRL's own settings: not ``trl_packed_varlen_liger``, which runs mrlm_hf's attention kernel).
    A configuration run several times (``--repeats``) is compared by its mean tokens/s, kept in ``mean_tokens_per_s``."""
    by_config: dict[str, list[float]] = {}
    for r in results["runs"]:
        if "tokens_per_s" in r:
            by_config.setdefault(r["config"], []).append(r["tokens_per_s"])
    mean = {name: sum(v) / len(v) for name, v in by_config.items()}
    results["mean_tokens_per_s"] = mean
    trl_own = [n for n in mean if n.startswith("trl_") and "varlen" not in n]
    best = max(trl_own, key=mean.get, default=None)
    results["best_trl_config"] = best
    for r in results["runs"]:
        if "tokens_per_s" not in r:
            continue
        if "trl_padded_b32" in mean:
            r["ratio_vs_trl_defaults"] = mean[r["config"]] / mean["trl_padded_b32"]
        if best:
            r["ratio_vs_best_trl"] = mean[r["config"]] / mean[best]


if __name__ == "__main__":
    main()
