"""GRPO throughput on one GPU: mrlm_hf's rollouts (StaticDecoder) versus TRL's GRPOTrainer with its own generation.

    python bench/grpo_throughput.py --out results.json

Same model as bench/train_throughput.py (Qwen2, 415M, random init, bf16 weights, sdpa). Task: single-turn math
(``make_env("math", difficulty=1, max_turns=1)``); a tiny BPE tokenizer with a ChatML template, padded with added
tokens to the model's 32,000 ids. Both runs: ``per_device_train_batch_size`` completions per step
(``num_generations`` per task), one generation per optimizer step, ``max_completion_length`` new tokens at most,
temperature 1, beta 0, the same optimizer.
(a) ``EnvGRPOTrainer`` with ``rollout_decoder="static"`` (``TransformersPolicy.generate_tokens`` through
    ``mrlm_hf.generation.StaticDecoder``), rewards forwarded from the environment;
(b) TRL's ``GRPOTrainer`` with its default transformers ``generate``, rewards from ``mrlm_hf.rl.EnvReward``.
Steps/s are measured over the steps after ``--warmup`` (compilation, CUDA graph capture); rollout tokens/s = the
completion tokens generated in the measured steps / the time spent generating them (environment steps included
for (a)).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402
from train_throughput import model_config  # noqa: E402
from transformers import Qwen2ForCausalLM, TrainerCallback  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

from mrlm_hf.rl import EnvGRPOConfig, EnvGRPOTrainer, EnvReward, env_prompt_dataset  # noqa: E402
from mrlm_hf.tiny import build_tokenizer  # noqa: E402

ENV_KWARGS = {"difficulty": 1, "max_turns": 1}


def tokenizer(vocab_size: int):
    dataset = env_prompt_dataset("math", 256, env_kwargs=ENV_KWARGS)
    tok = build_tokenizer([m["content"] for row in dataset["prompt"] for m in row], vocab_size=512)
    tok.add_tokens([f"<x{i}>" for i in range(vocab_size - len(tok))])  # every id the model can sample decodes
    return tok


CUDA = torch.cuda.is_available()


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


class StepTimes(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        sync()
        self.times.append(time.perf_counter())


def run(kind: str, args, tok, dataset) -> dict:
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(model_config(small=args.small)).to("cuda" if CUDA else "cpu", torch.bfloat16)
    model.config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    config = EnvGRPOConfig(
        output_dir=f"/tmp/grpo-bench-{kind}",
        per_device_train_batch_size=args.batch,
        num_generations=args.num_generations,
        max_completion_length=args.new_tokens,
        max_steps=args.warmup + args.steps,
        learning_rate=1e-6,
        beta=0.0,
        temperature=1.0,
        bf16=CUDA,
        use_cpu=not CUDA,
        activation_checkpointing=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        rollout_decoder="static" if CUDA else "generate",  # CPU: a smoke check of this script only
        rollout_batch_size=args.batch,
        rollout_max_cache_len=512,
        seed=0,
    )
    timer = StepTimes()
    if kind == "mrlm_hf_static":
        trainer = EnvGRPOTrainer(model, config, dataset, tok, callbacks=[timer])
        hook = "rollout_func"
    else:
        trainer = GRPOTrainer(
            model, reward_funcs=[EnvReward()], args=config, train_dataset=dataset, processing_class=tok,
            callbacks=[timer],
        )  # fmt: skip
        hook = "_generate_single_turn"
    generation: list[tuple[float, int]] = []
    inner = getattr(trainer, hook)

    def timed(*a, **k):
        sync()
        start = time.perf_counter()
        out = inner(*a, **k)
        sync()
        ids = out["completion_ids"] if isinstance(out, dict) else out[0]
        generation.append((time.perf_counter() - start, sum(len(x) for x in ids)))
        return out

    setattr(trainer, hook, timed)
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    measured = timer.times[args.warmup - 1 :] if args.warmup else [start, *timer.times]
    seconds = measured[-1] - measured[0]
    gen = generation[args.warmup :]
    result = {
        "steps_measured": len(measured) - 1,
        "steps_per_s": (len(measured) - 1) / seconds,
        "seconds_per_step": seconds / (len(measured) - 1),
        "rollout_tokens_per_s": sum(n for _, n in gen) / sum(s for s, _ in gen),
        "rollout_seconds_per_step": sum(s for s, _ in gen) / len(gen),
        "completion_tokens_per_step": sum(n for _, n in gen) / len(gen),
        "first_step_s": timer.times[0] - start,
        "total_s": total,
        "mean_reward": [h.get("reward") for h in trainer.state.log_history if "reward" in h],
    }
    print(kind, json.dumps(result), flush=True)
    del trainer, model
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128, help="completions per step")
    parser.add_argument("--num_generations", type=int, default=8)
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["mrlm_hf_static", "trl_generate"])
    parser.add_argument("--small", action="store_true", help="the 2-layer model (smoke check)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    tok = tokenizer(model_config().vocab_size)
    dataset = env_prompt_dataset("math", 4096, env_kwargs=ENV_KWARGS)
    results = {
        "device": torch.cuda.get_device_name(0) if CUDA else "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "settings": vars(args),
    }
    for kind in args.configs:
        results[kind] = run(kind, args, tok, dataset)
    if {"mrlm_hf_static", "trl_generate"} <= results.keys():
        ours, trl = results["mrlm_hf_static"], results["trl_generate"]
        results["speedup_steps_per_s"] = ours["steps_per_s"] / trl["steps_per_s"]
        results["speedup_rollout_tokens_per_s"] = ours["rollout_tokens_per_s"] / trl["rollout_tokens_per_s"]
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
