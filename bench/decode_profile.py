"""Where a rollout's time goes: per-step milliseconds of the static decoder, eager and compiled, per attention
implementation, and the top CUDA kernels of the compiled step; with ``--prefill``, the prefill of the whole batch
padded or packed, eager or compiled, and how far the packed logits are from the padded ones.

    TORCH_LOGS=recompiles,graph_breaks,cudagraphs python bench/decode_profile.py
    python bench/decode_profile.py --prefill padded packed --compiled_only

Same model as bench/rollout_throughput.py; one batch of ``--batch`` prompts of 64-512 tokens, ``--steps`` new tokens.
"""

from __future__ import annotations

import argparse
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
    kind, eager and compiled (``torch.compile(model, dynamic=True)``), on three further batches of new
    prompts after a warm-up batch (a recompilation would show as seconds), with the largest logit difference to the
    first configuration on the warm-up batch and the number of graphs compiled."""
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(model_config()).to("cuda", torch.bfloat16).eval()
    out, reference = {}, None
    batches = [data] + [prompts(len(data), seed=s) for s in (1, 2, 3)]
    for kind in kinds:
        for compiled in (False, True):
            torch._dynamo.reset()
            torch._dynamo.utils.counters.clear()
            decoder = StaticDecoder(model, len(data), 640, compile=False, prefill=kind)
            if compiled:
                decoder._prefill_forward = torch.compile(model, dynamic=True)
            name = f"{kind}_{'compiled' if compiled else 'eager'}"
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
    args = parser.parse_args()
    data = prompts(args.batch)
    results: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": args.batch}
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
