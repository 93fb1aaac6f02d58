"""Where a rollout's time goes: per-step milliseconds of the static decoder, eager and compiled, per attention
implementation, and the top CUDA kernels of the compiled step; one layer's decoding attention, masked over the whole
cache versus windowed (``--attention_only``: that alone); with ``--prefill``, the prefill of the whole batch
padded or packed, eager or compiled, and how far the packed logits are from the padded ones.

    TORCH_LOGS=recompiles,graph_breaks,cudagraphs python bench/decode_profile.py
    python bench/decode_profile.py --prefill padded packed --compiled_only
    python bench/decode_profile.py --attention_only

Same model as bench/rollout_throughput.py; one batch of ``--batch`` prompts of 64-512 tokens, ``--steps`` new tokens.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from rollout_throughput import prompts, report  # noqa: E402
from train_throughput import model_config  # noqa: E402
from transformers import Qwen2ForCausalLM  # noqa: E402

from mrlm_hf import attention  # noqa: E402
from mrlm_hf.generation import StaticDecoder  # noqa: E402

_grouped = attention.grouped_query_decode


def per_step_ms(decoder: StaticDecoder, data: list[list[int]], steps: int) -> float:
    """Milliseconds per new token of the batch: (time for ``steps`` tokens - time for 1 token) / (steps - 1)."""

    def run(n: int) -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        decoder.generate(data, n, do_sample=True, pad_token_id=0, check_every=10**9)
        torch.cuda.synchronize()
        return time.perf_counter() - start

    run(steps)  # compile, warm up
    one, full = min(run(1) for _ in range(2)), min(run(steps) for _ in range(2))
    return 1000 * (full - one) / (steps - 1)


def prefill_ms(data: list[list[int]], kinds: list[str]) -> dict:
    """Milliseconds to prefill the whole batch (model on SDPA, switched to "varlen" as the decoder does), per prefill
    kind, eager and with the decoder layers' cache-free blocks compiled (``StaticDecoder(compile=True)``), on three
    further batches of new prompts after a warm-up batch (its time includes compilation; a recompilation would show
    as seconds), with the largest logit difference to the first configuration on the warm-up batch and the number
    of graphs compiled. (The whole model compiled, measured on 2026-11-28: bench/RESULTS.md.)"""
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(model_config()).to("cuda", torch.bfloat16).eval()
    out, reference = {}, None
    batches = [data] + [prompts(len(data), seed=s) for s in (1, 2, 3)]
    for kind in kinds:
        for compiled in (False, True):
            torch._dynamo.reset()
            torch._dynamo.utils.counters.clear()
            decoder = StaticDecoder(model, len(data), 640, compile=compiled, prefill=kind)
            name = f"{kind}_{'compiled_blocks' if compiled else 'eager'}"
            try:
                times = []
                with attention.decoding_attention(model), torch.no_grad():
                    for i, batch in enumerate(batches):
                        torch.cuda.synchronize()
                        start = time.perf_counter()
                        logits = decoder._prefill(batch, max(map(len, batch)), 0)
                        torch.cuda.synchronize()
                        times.append(1000 * (time.perf_counter() - start))
                        if i == 0:
                            first = logits
                reference = first if reference is None else reference
                out[name] = {
                    "ms_warmup_then_new_batches": times,
                    "packed": decoder._packed_prefill(),
                    "graphs": dict(torch._dynamo.utils.counters["stats"]),
                    "max_abs_logit_diff_to_first": float((first - reference).abs().max()),
                    "argmax_agreement_to_first": float((first.argmax(-1) == reference.argmax(-1)).float().mean()),
                }
            except Exception as error:  # report and go on
                out[name] = f"{type(error).__name__}: {str(error)[:300]}"
            print(name, out[name], flush=True)
            del decoder
    torch._dynamo.reset()
    del model
    torch.cuda.empty_cache()
    return out


def kernel_us(fn, calls: int = 50) -> dict:
    """Microseconds of GPU time per call of ``fn`` (profiler, after a warm-up): all kernels, and the attention
    kernel alone (the longest one)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    times = [event.self_device_time_total / calls for event in prof.key_averages()]
    return {"all_kernels_us": sum(times), "attention_kernel_us": max(times)}


def attention_us(batch: int, cache_len: int = 640) -> dict:
    """One layer's decoding attention, the benchmark's shapes (14 query heads, 2 key/value heads, head dim 64, prompts
    of 64-512 tokens right-aligned at the longest): SDPA over the whole cache with the padding mask
    (``grouped_query_decode``) versus the FlashAttention kernel over each row's filled slots
    (``cache_window_decode``, eager and compiled), after 0, 64 and 127 new tokens; kernel microseconds and the
    largest difference."""
    heads, kv_heads, dim = 14, 2, 64
    lengths = torch.tensor([len(p) for p in prompts(batch)], device="cuda")
    width = int(lengths.max())
    g = torch.Generator(device="cuda").manual_seed(0)
    key, value = (
        torch.randn(batch, kv_heads, cache_len, dim, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(2)
    )
    out = {}
    for step in (0, 64, 127):
        query = torch.randn(batch, heads, 1, dim, device="cuda", dtype=torch.bfloat16, generator=g)
        start, used = width - lengths, lengths + step + 1
        slots = torch.arange(cache_len, device="cuda")[None]
        mask = ((slots >= start[:, None]) & (slots < (start + used)[:, None]))[:, None, None]
        masked = functools.partial(_grouped, query, key, value, mask, dim**-0.5)
        windowed = functools.partial(attention.cache_window_decode, query, key, value, start, used, dim**-0.5)
        compiled = functools.partial(
            torch.compile(attention.cache_window_decode, dynamic=False), query, key, value, start, used, dim**-0.5
        )
        out[f"after_{step}_new_tokens"] = {
            "masked_sdpa": kernel_us(masked),
            "windowed_flash": kernel_us(windowed),
            "windowed_flash_compiled": kernel_us(compiled),  # as in the decoding step: index arithmetic fused
            "max_abs_diff": float((masked().float() - windowed().float()).abs().max()),
        }
        print(step, out[f"after_{step}_new_tokens"], flush=True)
    return out


def _matmul_decode(query, key, value, attention_mask, scaling=None):
    """Alternative for the experiment: the grouped decoding attention as two batched matmuls and a softmax."""
    batch, heads, _, dim = query.shape
    grouped = query.reshape(batch, key.shape[1], heads // key.shape[1], dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * (scaling or dim**-0.5)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
        else:
            scores = scores + attention_mask
    return torch.matmul(scores.softmax(-1).to(value.dtype), value).reshape(batch, 1, heads, dim)


def _efficient_decode(query, key, value, attention_mask, scaling=None):
    """Alternative for the experiment: the grouped SDPA call pinned to the memory-efficient kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
        return _grouped(query, key, value, attention_mask, scaling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--attn", nargs="+", default=["sdpa"])
    parser.add_argument("--out", default=None)
    parser.add_argument("--decode_attention", nargs="+", default=["sdpa"], help="sdpa, efficient, matmul")
    parser.add_argument("--compiled_only", action="store_true")
    parser.add_argument("--prefill", nargs="*", default=[], help="padded, packed: time these prefills too")
    parser.add_argument("--attention_only", action="store_true", help="only one layer's decoding attention kernels")
    args = parser.parse_args()
    data = prompts(args.batch)
    results: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": args.batch}
    results["decoding_attention_one_layer"] = attention_us(args.batch)
    if args.attention_only:
        return report(results, args.out)
    if args.prefill:
        results["prefill"] = prefill_ms(data, args.prefill)
    for attn in args.attn:
        torch.manual_seed(0)
        config = model_config()
        config._attn_implementation = attn
        model = Qwen2ForCausalLM(config).to("cuda", torch.bfloat16).eval()
        for variant, compiled in [(v, c) for v in args.decode_attention for c in (False, True)]:
            if args.compiled_only and not compiled:
                continue
            attention.grouped_query_decode = {
                "sdpa": _grouped,
                "efficient": _efficient_decode,
                "matmul": _matmul_decode,
            }[variant]
            name = f"{attn}_{variant}_{'compiled' if compiled else 'eager'}"
            try:
                decoder = StaticDecoder(model, args.batch, 640, compile=compiled)
                results[name] = per_step_ms(decoder, data, args.steps)
            except Exception as error:  # report and go on with the next configuration
                results[name] = f"{type(error).__name__}: {str(error)[:300]}"
            print(name, results[name], flush=True)
            if compiled and isinstance(results[name], float):
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    decoder.generate(data, 16, do_sample=True, pad_token_id=0, check_every=10**9)
                    torch.cuda.synchronize()
                print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25), flush=True)
            del decoder
            torch._dynamo.reset()
            torch.cuda.empty_cache()
        del model
    report(results, args.out)


if __name__ == "__main__":
    main()
