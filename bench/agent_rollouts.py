"""End-to-end agent rollouts: multi-turn code-environment episodes played by a model, generation plus sandboxed
execution, against the time spent generating the same tokens.

    python bench/agent_rollouts.py --model bench --out agent.json      # GPU: the 415M model, static decoder
    python bench/agent_rollouts.py --model tiny --episodes 16 --num_envs 4 --new_tokens 16   # CPU check

``collect_trajectories("code", policy, ...)`` plays ``--episodes`` episodes (``--num_envs`` per batched policy
call) with ``TransformersPolicy(decoder="static")`` on the GPU (plain ``generate`` on the CPU), in three modes:
``concurrent`` (lockstep: every running episode generates, then all their steps run on ``step_workers`` threads),
``serial`` (lockstep, steps one after another) and ``overlapped`` (``pipeline_groups`` groups of ``--num_envs``
episodes: one group's steps run on the threads while the policy generates for the next; one run per value of
``--pipeline_groups``). Each run reports episodes/s, new tokens/s, the seconds inside the policy's
``generate_tokens`` (generation only) and inside the whole policy call, ``env_seconds`` = wall seconds outside the
policy call (environment time not hidden behind generation), ``end_to_end_over_generation`` = wall seconds /
generation seconds of the same run (1.0: environments cost nothing), and ``end_to_end_over_lockstep_generation``
= wall seconds / (this run's new tokens x the generation seconds per new token of the ``concurrent`` run of the
same variant): a check that overlapping did not merely slow generation down. Give ``--episodes`` several times
``pipeline_groups * num_envs``, so the pipeline's start and end weigh little.

The model is random, so its replies are garbage: each ends at ``--new_tokens`` (the end-of-turn token is rarely
drawn), fails to parse or run in a few milliseconds of sandbox, and every episode uses all ``--max_turns``. Variant
``expert_code`` keeps the generation but steps each environment with its expert's reference program instead of the
sampled text, so the sandbox runs real code and tests (and episodes end after one turn, on success).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402

from mrlm_hf import collect_trajectories, make_env  # noqa: E402
from mrlm_hf.policies import TransformersPolicy  # noqa: E402
from mrlm_hf.rollout import default_step_workers  # noqa: E402
from mrlm_hf.tiny import build_model, build_tokenizer  # noqa: E402


class TimedPolicy:
    """Wraps a ``TransformersPolicy``: counts the new tokens and the seconds inside ``generate_tokens`` (generation
    only) and inside the whole call (prompt rendering, tokenization and decoding included). With ``expert_code``,
    the environments are stepped with their expert's action instead of the generated one."""

    def __init__(self, policy: TransformersPolicy, expert_code: bool = False) -> None:
        self.policy, self.expert_code = policy, expert_code
        self.name = "model+expert_code" if expert_code else "model"
        self.generate_tokens = policy.generate_tokens
        policy.generate_tokens = self._generate_tokens  # the policy's __call__ looks it up on the instance
        self.reset()

    def reset(self) -> None:
        self.calls, self.new_tokens, self.generation_seconds, self.policy_seconds = 0, 0, 0.0, 0.0
        self.prompt_tokens, self.longest_prompt = 0, 0

    def _generate_tokens(self, prompts: list[list[int]], **overrides: Any) -> list[list[int]]:
        self.prompt_tokens += sum(map(len, prompts))
        self.longest_prompt = max([self.longest_prompt, *map(len, prompts)])
        start = time.perf_counter()
        tokens = self.generate_tokens(prompts, **overrides)  # lists of ints: the device has finished
        self.generation_seconds += time.perf_counter() - start
        self.new_tokens += sum(map(len, tokens))
        return tokens

    def __call__(self, conversations: list, envs: Sequence[Any] | None = None) -> list[str]:
        start = time.perf_counter()
        actions = self.policy(conversations, envs)
        if self.expert_code:
            actions = [env.expert_action() for env in envs]
        self.policy_seconds += time.perf_counter() - start
        self.calls += 1
        return actions


def run_summary(seconds: float, episodes: int, steps: int, timed: TimedPolicy) -> dict:
    """The figures of one collection: throughput, and wall time against generation time."""
    return {
        "seconds": seconds,
        "episodes": episodes,
        "env_steps": steps,
        "policy_calls": timed.calls,
        "new_tokens": timed.new_tokens,
        "prompt_tokens": timed.prompt_tokens,
        "longest_prompt": timed.longest_prompt,
        "episodes_per_s": episodes / seconds,
        "new_tokens_per_s": timed.new_tokens / seconds,
        "generation_seconds": timed.generation_seconds,
        "policy_seconds": timed.policy_seconds,
        "env_seconds": seconds - timed.policy_seconds,
        "end_to_end_over_generation": seconds / timed.generation_seconds if timed.generation_seconds else None,
    }


MODES = {"concurrent": False, "overlapped": True, "serial": False}  # mode: whether it pipelines groups (run order)


def against_lockstep(rows: list[dict]) -> None:
    """Add ``end_to_end_over_lockstep_generation`` to each row: its wall seconds over the generation seconds its new
    tokens took in the ``concurrent`` (lockstep) run of the same variant, so an overlapped run is judged against
    generation at the full lockstep rate."""
    for row in rows:
        reference = next((r for r in rows if r["variant"] == row["variant"] and r["mode"] == "concurrent"), None)
        if reference and reference["generation_seconds"] and reference["new_tokens"]:
            per_token = reference["generation_seconds"] / reference["new_tokens"]
            row["end_to_end_over_lockstep_generation"] = row["seconds"] / (row["new_tokens"] * per_token)


def code_tokenizer(vocab_size: int | None):
    """A ChatML BPE tokenizer trained on code-environment text; padded with added tokens to ``vocab_size`` ids so a
    model of that vocabulary only samples ids that decode."""
    texts = []
    env = make_env("code")
    for seed in range(64):
        observation, _ = env.reset(seed=seed)
        texts += [observation, env.expert_action()]
    tokenizer = build_tokenizer([env.system_prompt, *texts], vocab_size=1024)
    if vocab_size:
        tokenizer.add_tokens([f"<x{i}>" for i in range(vocab_size - len(tokenizer))])
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["tiny", "bench"], default="tiny")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--num_envs", type=int, default=128, help="episodes in flight (the generation batch)")
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--max_turns", type=int, default=3)
    parser.add_argument("--max_cache_len", type=int, default=2048)
    parser.add_argument("--variants", nargs="+", default=["model", "expert_code"], choices=["model", "expert_code"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--workers", type=int, default=None, help="step_workers of concurrent/overlapped (default: cores)"
    )
    parser.add_argument(
        "--pipeline_groups", type=int, nargs="+", default=[2, 3], help="overlapped: groups of num_envs (one run each)"
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    torch.manual_seed(0)
    if args.model == "bench":
        from train_throughput import model_config
        from transformers import Qwen2ForCausalLM

        tokenizer = code_tokenizer(32000)
        config = model_config()
        config.vocab_size = len(tokenizer)
        with torch.device("cuda" if gpu else "cpu"):  # initialised in place: fast on a GPU
            model = Qwen2ForCausalLM(config).to(torch.bfloat16 if gpu else torch.float32)
    else:
        tokenizer = code_tokenizer(None)
        model = build_model(tokenizer).to("cuda" if gpu else "cpu")
    policy = TransformersPolicy(
        model,
        tokenizer,
        max_new_tokens=args.new_tokens,
        batch_size=args.num_envs,
        decoder="static" if gpu else "generate",
        max_cache_len=args.max_cache_len,
    )
    cores = default_step_workers()
    workers = args.workers or cores
    env_kwargs = {"max_turns": args.max_turns}
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if gpu else "cpu",
        "model": args.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "decoder": policy.decoder,
        "cores": cores,
        "num_envs": args.num_envs,
        "pipeline_groups": args.pipeline_groups,
        "episodes": args.episodes,
        "new_tokens_per_turn": args.new_tokens,
        "env_kwargs": env_kwargs,
        "date": time.strftime("%Y-%m-%d"),
        "runs": [],
    }

    def collect(timed: TimedPolicy, episodes: int, step_workers: int, pipeline_groups: int) -> dict:
        timed.reset()
        start = time.perf_counter()
        data = collect_trajectories(
            "code",
            timed,
            episodes,
            env_kwargs=env_kwargs,
            num_envs=args.num_envs,
            progress=False,
            step_workers=step_workers,
            pipeline_groups=pipeline_groups,
        )
        seconds = time.perf_counter() - start
        summary = run_summary(seconds, episodes, sum(data["length"]), timed)
        summary["success_rate"] = sum(data["success"]) / max(1, len(data))
        return summary

    # Warm-up: compilation and CUDA-graph capture of the decoder, the sandbox's first start; not counted.
    warm_groups = max(args.pipeline_groups) if "overlapped" in args.modes else 1
    warm = collect(TimedPolicy(policy), min(args.episodes, warm_groups * args.num_envs), workers, warm_groups)
    results["warm_up_seconds"] = warm["seconds"]
    for variant in args.variants:
        timed = TimedPolicy(policy, expert_code=variant == "expert_code")
        for mode, groups in [(m, g) for m in args.modes for g in (args.pipeline_groups if MODES[m] else [1])]:
            step_workers = 1 if mode == "serial" else workers
            row = {
                "variant": variant,
                "mode": mode,
                "step_workers": step_workers,
                "pipeline_groups": groups,
                **collect(timed, args.episodes, step_workers, groups),
            }
            results["runs"].append(row)
            against_lockstep(results["runs"])
            print(
                f"{variant}, {mode} (step_workers={step_workers}, pipeline_groups={groups}): "
                f"{row['episodes_per_s']:.2f} episodes/s, {row['new_tokens_per_s']:,.0f} new tokens/s, end-to-end / "
                f"generation {row['end_to_end_over_generation']:.2f}, over lockstep generation "
                f"{row.get('end_to_end_over_lockstep_generation', float('nan')):.2f} ({row['env_steps']} steps, "
                f"{row['seconds']:.1f} s)",
                flush=True,
            )
            if args.out:  # after every run, so a run cut short keeps what it measured
                with open(args.out, "w") as f:
                    json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
