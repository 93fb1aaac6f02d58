"""Rollout throughput: plain ``model.generate`` on padded batches versus mrlm_hf's rollout generation, one GPU.

    python bench/rollout_throughput.py
    python bench/rollout_throughput.py --batches 64 128 256 512 --out rollouts.json

Same model as bench/train_throughput.py (Qwen2, 415M, random init, bf16); 256 prompts of 64-512 random tokens,
128 sampled new tokens each (EOS ignored so every configuration produces the same number of tokens).
(a) ``model.generate`` on padded batches of 128 with a dynamic cache (the plain baseline);
(b) ``TransformersPolicy.generate_tokens``, length-sorted batches: ``static_cache`` = ``generate`` with a static KV
    cache (``transformers`` compiles the step); ``static_decoder`` = ``mrlm_hf.generation.StaticDecoder`` (forward and
    sampling in one CUDA graph, the host checks for end tokens every 16 steps, prompts prefilled packed in one row);
    ``static_decoder_liger`` = the same on the model with the fused kernels that mrlm_hf's GPU training defaults
    apply (Liger RMSNorm/SwiGLU/RoPE).
``--batches 64 128 256 512`` instead compares, per batch size and on the same prompts, transformers' best paths with
ours: ``static_generate`` = ``model.generate(cache_implementation="static")``, which transformers compiles itself
(``torch.compile`` of the decoding step, default ``CompileConfig``: CUDA graphs), prompts left-padded to one width;
``generate_batch`` = continuous batching (``model.generate_batch``, paged cache, its own CUDA graphs; the best of
``--cb_compile_levels``); ``static_decoder`` = ``TransformersPolicy(decoder="static").generate_tokens``. Each row
reports ours / the better transformers path and the memory-bandwidth bound of a decoding step (``bandwidth_bound``):
bytes per step = weights read + the filled KV cache, bound = batch * bandwidth / bytes per step.
``--tiny`` runs a 2-layer model (on the CPU when there is no GPU) to check the script end to end.

New tokens/s are measured on a second pass (the first pass compiles and warms up). A greedy check compares (b) with
plain ``generate`` token for token on a few prompts in fp32; in bf16 it reports how many greedy tokens agree before
the first difference (the two use different attention kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from train_throughput import model_config, tokenizer  # noqa: E402
from transformers import Qwen2ForCausalLM  # noqa: E402

from mrlm_hf.policies import TransformersPolicy  # noqa: E402


def prompts(n: int, seed: int = 0, high: int = 512) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(100, 32000, (int(torch.randint(64, high + 1, (1,), generator=g)),), generator=g).tolist()
        for _ in range(n)
    ]


def left_padded(batch: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask of ``batch`` left-padded (with 0) to ``width``."""
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(batch):
        ids[row, width - len(p) :] = torch.tensor(p)
        mask[row, width - len(p) :] = 1
    return ids, mask


def plain_generate(
    model, batch: list[list[int]], new_tokens: int, sample: bool = True, width: int | None = None, **generate_kwargs
) -> list[list[int]]:
    """``model.generate`` on ``batch`` left-padded to ``width`` (the longest prompt by default), exactly
    ``new_tokens`` new tokens each (EOS ignored); ``generate_kwargs`` go to ``generate``."""
    width = width or max(map(len, batch))
    ids, mask = left_padded(batch, width)
    out = model.generate(
        input_ids=ids.to(model.device),
        attention_mask=mask.to(model.device),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=sample,
        pad_token_id=0,
        eos_token_id=None,
        **generate_kwargs,
    )
    return out[:, width:].tolist()


def timed(fn) -> tuple[float, object]:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start = time.perf_counter()
    result = fn()
    sync()
    return time.perf_counter() - start, result


H200_BANDWIDTH = 4.8e12  # bytes/s, the H200's peak HBM3e bandwidth


def bandwidth_bound(
    config,
    batch: int,
    mean_prompt: float,
    new_tokens: int,
    bytes_per_value: int = 2,
    bandwidth: float = H200_BANDWIDTH,
) -> dict:
    """The memory-bandwidth bound of decoding: the fewest bytes one step must read, and the tokens/s that allows.

    bytes per step = W + K, with W the weights read (every parameter except the input embedding table, of which a
    step gathers only ``batch`` rows; with tied embeddings the LM head reads the table anyway) and
    K = batch * layers * 2 (keys and values) * kv_heads * head_dim * bytes_per_value * (mean_prompt + (new_tokens + 1) / 2),
    the KV cache a step must read at least: each row's filled slots (its prompt and the tokens so far), averaged over
    the steps. Bound: step time >= (W + K) / bandwidth, so new tokens/s <= batch * bandwidth / (W + K).
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    intermediate = config.intermediate_size
    attention = hidden * (heads * head_dim) + 2 * hidden * (kv_heads * head_dim) + (heads * head_dim) * hidden
    attention_bias = (heads + 2 * kv_heads) * head_dim if getattr(config, "attention_bias", True) else 0
    per_layer = attention + attention_bias + 3 * hidden * intermediate + 2 * hidden
    head = config.vocab_size * hidden
    embedding_rows = 0 if getattr(config, "tie_word_embeddings", False) else batch * hidden  # tied: the head's table
    weight_bytes = (layers * per_layer + hidden + head + embedding_rows) * bytes_per_value
    cache_bytes = batch * layers * 2 * kv_heads * head_dim * bytes_per_value * (mean_prompt + (new_tokens + 1) / 2)
    step_seconds = (weight_bytes + cache_bytes) / bandwidth
    return {
        "weight_bytes_per_step": weight_bytes,
        "kv_cache_bytes_per_step": cache_bytes,
        "bound_step_ms": 1e3 * step_seconds,
        "bound_new_tokens_per_s": batch / step_seconds,
    }


def summarize(row: dict, bound: dict) -> dict:
    """The per-batch comparison: ours / best of transformers' paths, and ours against the bandwidth bound."""
    tokens_per_s = {name: row[name]["new_tokens_per_s"] for name in PATHS if "new_tokens_per_s" in row.get(name, {})}
    baselines = {name: v for name, v in tokens_per_s.items() if name != "static_decoder"}
    best = max(baselines, key=baselines.get) if baselines else None
    ours = tokens_per_s.get("static_decoder")
    summary = {"best_transformers_path": best, "bandwidth_bound": bound}
    # Every path against the bound (end-to-end throughput, prefill included).
    summary["fraction_of_bound"] = {name: v / bound["bound_new_tokens_per_s"] for name, v in tokens_per_s.items()}
    if ours is not None and best is not None:
        summary["ours_over_best_transformers"] = ours / baselines[best]
    if ours is not None:
        # Includes the prefill: the step time our throughput implies, next to the bound's step time.
        summary["ours_fraction_of_bound"] = ours / bound["bound_new_tokens_per_s"]
        summary["ours_ms_per_step_incl_prefill"] = 1e3 * row["batch"] / ours
    return summary


PATHS = ("static_generate", "generate_batch", "static_decoder")


def static_generate(model, batch: list[list[int]], new_tokens: int, width: int) -> list[list[int]]:
    """transformers' compiled static-cache ``generate``: ``cache_implementation="static"`` makes ``generate`` compile
    the decoding step itself (``torch.compile`` with its default ``CompileConfig``: "reduce-overhead", i.e. CUDA
    graphs). Prompts are left-padded to one fixed ``width`` so every call has the same shapes (one compilation)."""
    return plain_generate(
        model, batch, new_tokens, width=width, top_k=0, top_p=1.0, temperature=1.0, cache_implementation="static"
    )


def batch_generate(
    model, batch: list[list[int]], new_tokens: int, compile_level: int, stats: dict | None = None
) -> list[list[int]]:
    """transformers' continuous batching, ``model.generate_batch``: paged cache, its CUDA graphs where it decides
    (default), all requests admitted at once (``max_requests_per_batch`` is inferred from the request count);
    ``compile_level`` is ``ContinuousBatchingConfig.default_compile_level`` (0: no torch.compile). The manager is
    kept between calls (warm-up and graphs paid once, as a server would); ``compare`` destroys it afterwards.
    ``stats["loop_seconds"]``: from the first request's creation to the last one's end (the call's own start and stop
    of its generation thread left out)."""
    from transformers import ContinuousBatchingConfig, GenerationConfig

    config = GenerationConfig(
        max_new_tokens=new_tokens, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, eos_token_id=-1, pad_token_id=0
    )
    outputs = model.generate_batch(
        inputs=batch,
        generation_config=config,
        continuous_batching_config=ContinuousBatchingConfig(default_compile_level=compile_level),
        persistent_manager=True,  # the timed pass reuses the first pass's manager, cache and captured graphs
    )
    by_id = sorted(outputs.values(), key=lambda o: int(str(o.request_id).rsplit("_", 1)[-1]))
    if stats is not None and by_id:
        stats["loop_seconds"] = max(o.lifespan[1] for o in by_id) - min(o.created_time for o in by_id)
    return [list(o.generated_tokens) for o in by_id]


def plan(batches: list[int], paths: list[str]) -> list[tuple[int, str]]:
    """The (batch, path) measurements in the order they run, so that a sweep cut by its budget keeps the figures
    that matter: every path at the first batch size (the headline); compiled ``generate`` and ours at the other
    sizes; ``generate_batch`` at those last (in the last H200 run it was about 10x slower than compiled
    ``generate``, never the better baseline, and one pass of it took 20 s at batch 256)."""
    first, rest = batches[0], batches[1:]
    tasks = [(first, path) for path in ("static_generate", "static_decoder", "generate_batch") if path in paths]
    tasks += [(b, path) for b in rest for path in ("static_generate", "static_decoder") if path in paths]
    return tasks + [(b, "generate_batch") for b in rest if "generate_batch" in paths]


def compare(model, args: argparse.Namespace, results: dict) -> None:
    """New tokens/s of (a) compiled static-cache ``generate``, (b) ``generate_batch``, (c) our static decoder, each
    on the same prompts of each batch size, in the order of ``plan``. Compiled paths get a first (compiling) pass and
    a timed second pass; ``generate_batch`` (not compiled at level 0) one pass, its warm-up included (a lower bound:
    24.4 s against 20.9 s for a second pass at batch 256 in the last H200 run). A measurement that would start after ``args.budget_s``
    seconds is skipped and marked so. Rows go to ``results["batches"]``, written to ``args.out`` after every
    measurement (a run cut short keeps what it measured)."""
    width = args.prompt_max
    began = time.perf_counter()
    rows: dict[int, dict] = {}
    policies: dict[int, TransformersPolicy] = {}
    for batch, path in plan(args.batches, args.paths):
        data = prompts(batch, seed=batch, high=width)
        total = batch * args.new_tokens
        row = rows.setdefault(
            batch, {"batch": batch, "new_tokens": args.new_tokens, "mean_prompt": sum(map(len, data)) / batch}
        )
        if args.budget_s is not None and time.perf_counter() - began > args.budget_s:
            row[path] = {"skipped": f"not started: the sweep's budget of {args.budget_s:.0f} s was spent"}
            print(f"batch {batch}, {path}: skipped (budget)", flush=True)
            continue
        if path == "static_decoder" and batch not in policies:
            policies[batch] = TransformersPolicy(
                model,
                tokenizer(),
                max_new_tokens=args.new_tokens,
                do_sample=True,
                batch_size=batch,
                decoder="static",
                max_cache_len=width + args.new_tokens,
            )
            policies[batch].generation_kwargs.update(eos_token_id=None)
        if path == "static_generate":
            runs = {path: partial(static_generate, model, data, args.new_tokens, width)}
        elif path == "static_decoder":
            runs = {path: partial(policies[batch].generate_tokens, data)}
        else:
            runs = {f"generate_batch_level{level}": level for level in args.cb_compile_levels}
        for name, fn in runs.items():
            stats: dict = {}
            if name.startswith("generate_batch"):
                fn = partial(batch_generate, model, data, args.new_tokens, fn, stats)
            try:
                first = None if name.startswith("generate_batch") else timed(fn)[0]
                seconds, out = timed(fn)
                produced = sum(map(len, out))
                if produced != total:
                    raise RuntimeError(f"produced {produced} new tokens, expected {total}")
                row[name] = {"seconds": seconds, "first_pass_seconds": first, "new_tokens_per_s": total / seconds}
                if first is None:
                    row[name]["timed_pass"] = "the only pass (its warm-up included: a lower bound)"
                if stats.get("loop_seconds"):  # generate_batch: its loop alone, for reference
                    row[name]["loop_seconds"] = stats["loop_seconds"]
                    row[name]["loop_new_tokens_per_s"] = total / stats["loop_seconds"]
                warm = "" if first is None else f" (first pass {first:.1f} s)"
                print(f"batch {batch}, {name}: {total / seconds:,.0f} new tokens/s{warm}", flush=True)
            except Exception as error:  # one failing path must not lose the others' figures
                row[name] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
                print(f"batch {batch}, {name}: FAILED {row[name]['error']}", flush=True)
            if name.startswith("generate_batch"):  # its paged cache takes most of the free memory: give it back
                model.destroy_cached_continuous_batching_manager()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        levels = [row[k] for k in row if k.startswith("generate_batch_level") and "new_tokens_per_s" in row[k]]
        if levels:  # generate_batch's best setting
            row["generate_batch"] = max(levels, key=lambda r: r["new_tokens_per_s"])
        dtype_bytes = next(model.parameters()).element_size()
        bound = bandwidth_bound(model.config, batch, row["mean_prompt"], args.new_tokens, dtype_bytes, args.bandwidth)
        row["summary"] = summarize(row, bound)
        results["batches"] = [rows[b] for b in args.batches if b in rows]
        results["sweep_seconds"] = time.perf_counter() - began
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)
    for batch in args.batches:
        if batch in rows:
            print(json.dumps({"batch": batch, **rows[batch]["summary"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--baseline_batch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help="which mrlm_hf paths to time besides the baseline (default: static_cache static_decoder; with "
        "--batches, none unless given)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=None,
        help="compare transformers' best paths with ours at these batch sizes (e.g. 64 128 256 512); drop sizes "
        "to save time",
    )
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS, help="paths timed with --batches")
    parser.add_argument(
        "--cb_compile_levels",
        type=int,
        nargs="+",
        default=[0],
        help="generate_batch's default_compile_level values to try, 0-3 (the best counts; each costs compile time)",
    )
    parser.add_argument("--prompt_max", type=int, default=512, help="prompts are 64..prompt_max random tokens")
    parser.add_argument(
        "--budget_s",
        type=float,
        default=None,
        help="with --batches: start no measurement after this many seconds (the rest are marked skipped)",
    )
    parser.add_argument("--bandwidth", type=float, default=H200_BANDWIDTH, help="peak memory bandwidth, bytes/s")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model (CPU check of the script)")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):  # initialised in place: fast on a GPU
        model = Qwen2ForCausalLM(model_config(small=args.tiny)).to(dtype).eval()
    if args.batches:
        results = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__}
        results.update(date=time.strftime("%Y-%m-%d"), tiny=args.tiny, bandwidth=args.bandwidth)
        compare(model, args, results)
        if not args.configs:
            report(results, args.out)
            return
    args.configs = args.configs or ["static_cache", "static_decoder"]
    data = prompts(args.prompts)
    total = args.prompts * args.new_tokens
    results = results if args.batches else {}
    results.update(device=torch.cuda.get_device_name(0), torch=torch.__version__, date=time.strftime("%Y-%m-%d"))

    # Greedy check in fp32: the fast path produces the same tokens as plain generate.
    check_model = Qwen2ForCausalLM(model_config()).to("cuda", torch.float32).eval()
    check_prompts = data[:8]
    reference = plain_generate(check_model, check_prompts, 32, sample=False)
    policy = TransformersPolicy(
        check_model, tokenizer(), max_new_tokens=32, do_sample=False, batch_size=8, cache_implementation="static"
    )
    policy.generation_kwargs.update(eos_token_id=None, min_new_tokens=32)
    fast = policy.generate_tokens(check_prompts)
    results["greedy_match"] = sum(a == b for a, b in zip(reference, fast)) / len(reference)
    results["greedy_token_match"] = sum(x == y for a, b in zip(reference, fast) for x, y in zip(a, b)) / (8 * 32)
    del check_model, policy
    torch.cuda.empty_cache()
    # In bf16 (the benchmark's dtype) the static decoder reads the cache through the FlashAttention kernel; plain
    # generate through SDPA. Rounding differs, so report how far greedy tokens agree rather than expect identity.
    policy = TransformersPolicy(
        model, tokenizer(), max_new_tokens=32, do_sample=False, batch_size=8, decoder="static", max_cache_len=640
    )
    policy.generation_kwargs.update(eos_token_id=None)
    fast, reference = policy.generate_tokens(check_prompts), plain_generate(model, check_prompts, 32, sample=False)
    agree = [next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), len(a)) for a, b in zip(reference, fast)]
    results["greedy_bf16_tokens_before_first_difference"] = agree
    # Where they part, how close were the two best tokens of plain generate's own logits (a near tie flips on rounding)?
    gaps = []
    for prompt, tokens, j in zip(check_prompts, reference, agree):
        if j < len(tokens):
            with torch.no_grad():
                logits = model(torch.tensor([prompt + tokens[:j]], device="cuda")).logits[0, -1].float()
            top = logits.topk(2).values
            gaps.append(float(top[0] - top[1]))
    results["greedy_bf16_top2_logit_gap_where_they_differ"] = gaps
    with torch.no_grad():  # for scale: the median gap over the positions of one prompt
        top = model(torch.tensor([check_prompts[0]], device="cuda")).logits[0].float().topk(2).values
    results["greedy_bf16_median_top2_logit_gap"] = float((top[:, 0] - top[:, 1]).median())
    del policy

    # (a) plain generate, padded batches.
    def baseline():
        out = []
        for i in range(0, len(data), args.baseline_batch):
            out += plain_generate(model, data[i : i + args.baseline_batch], args.new_tokens)
        return out

    baseline()  # warm-up
    seconds, out = timed(baseline)
    assert sum(map(len, out)) == total
    results["generate_padded"] = {"batch": args.baseline_batch, "seconds": seconds, "new_tokens_per_s": total / seconds}
    print(f"generate, padded batch {args.baseline_batch}: {total / seconds:,.0f} new tokens/s", flush=True)

    # (b) mrlm_hf's rollout generation: generate() with a static cache, and the lean static decoder.
    variants = {
        "static_cache": dict(cache_implementation="static"),
        "static_decoder": dict(decoder="static", max_cache_len=640),
        "static_decoder_liger": dict(decoder="static", max_cache_len=640),
    }
    for name in args.configs:
        if name == "static_decoder_liger":  # the training model's GPU kernels (last: it patches the model in place)
            from mrlm_hf.attention import apply_fast_kernels

            results["kernels_applied"] = apply_fast_kernels(model, padding_free=False)
        policy = TransformersPolicy(
            model, tokenizer(), max_new_tokens=args.new_tokens, do_sample=True, batch_size=args.batch, **variants[name]
        )
        policy.generation_kwargs.update(eos_token_id=None)
        if name == "static_cache":
            policy.generation_kwargs.update(min_new_tokens=args.new_tokens)
        seconds_first, _ = timed(lambda p=policy: p.generate_tokens(data))
        seconds, out = timed(lambda p=policy: p.generate_tokens(data))
        assert sum(map(len, out)) == total
        speedup = total / seconds / results["generate_padded"]["new_tokens_per_s"]
        results[name] = {
            "batch": args.batch,
            "seconds": seconds,
            "first_pass_seconds": seconds_first,
            "new_tokens_per_s": total / seconds,
            "speedup": speedup,
        }
        print(
            f"mrlm_hf {name}, batch {args.batch}: {total / seconds:,.0f} new tokens/s "
            f"(first pass {seconds_first:.1f} s); {speedup:.1f}x",
            flush=True,
        )
    report(results, args.out)


def report(results: dict, out: str | None) -> None:
    """Print the results as JSON, and write them to ``out`` if given."""
    print(json.dumps(results, indent=2))
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
