"""Rollout throughput: plain ``model.generate`` on padded batches versus mrlm_hf's rollout generation, one GPU.

    python bench/rollout_throughput.py

Same model as bench/train_throughput.py (Qwen2, 415M, random init, bf16); 256 prompts of 64-512 random tokens,
128 sampled new tokens each (EOS ignored so every configuration produces the same number of tokens).
(a) ``model.generate`` on padded batches of 128 with a dynamic cache (the plain baseline);
(b) ``TransformersPolicy.generate_tokens``, length-sorted batches: ``static_cache`` = ``generate`` with a static KV
    cache (``transformers`` compiles the step); ``static_decoder`` = ``mrlm_hf.generation.StaticDecoder`` (forward and
    sampling in one CUDA graph, the host checks for end tokens every 16 steps, prompts prefilled packed in one row);
    ``static_decoder_liger`` = the same on the model with the fused kernels that mrlm_hf's GPU training defaults
    apply (Liger RMSNorm/SwiGLU/RoPE).
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from train_throughput import model_config, tokenizer  # noqa: E402
from transformers import Qwen2ForCausalLM  # noqa: E402

from mrlm_hf.policies import TransformersPolicy  # noqa: E402


def prompts(n: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(100, 32000, (int(torch.randint(64, 513, (1,), generator=g)),), generator=g).tolist()
        for _ in range(n)
    ]


def plain_generate(model, batch: list[list[int]], new_tokens: int, sample: bool = True) -> list[list[int]]:
    width = max(map(len, batch))
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(batch):
        ids[row, width - len(p) :] = torch.tensor(p)
        mask[row, width - len(p) :] = 1
    out = model.generate(
        input_ids=ids.cuda(),
        attention_mask=mask.cuda(),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=sample,
        pad_token_id=0,
        eos_token_id=None,
    )
    return out[:, width:].tolist()


def timed(fn) -> tuple[float, object]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, result


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
        default=["static_cache", "static_decoder"],
        help="which mrlm_hf paths to time besides the baseline",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(model_config()).to("cuda", torch.bfloat16).eval()
    data = prompts(args.prompts)
    total = args.prompts * args.new_tokens
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}

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
