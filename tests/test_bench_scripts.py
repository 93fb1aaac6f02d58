"""The benchmark scripts' arithmetic and report fields (CPU, no timing): the memory-bandwidth bound of a decoding
step, the per-batch rollout summary, the agent-rollout and cost-growth summaries, and the DDP parity comparison."""

from __future__ import annotations

import os
import sys

import pytest
from transformers import Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
rollout_throughput = pytest.importorskip("rollout_throughput")


def small_config(tied: bool) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=96,
        tie_word_embeddings=tied,
    )


@pytest.mark.parametrize("tied", [False, True])
def test_bandwidth_bound_counts_the_weights_a_step_reads(tied):
    config = small_config(tied)
    model = Qwen2ForCausalLM(config)
    parameters = sum(p.numel() for p in model.parameters())  # a tied table is one parameter
    embedding = model.model.embed_tokens.weight.numel()
    batch = 8
    # Untied: every weight but the input table, of which the step gathers one row per sequence; tied: all of them.
    expected = parameters if tied else parameters - embedding + batch * config.hidden_size
    bound = rollout_throughput.bandwidth_bound(config, batch, mean_prompt=100, new_tokens=31, bytes_per_value=2)
    assert bound["weight_bytes_per_step"] == 2 * expected


def test_bandwidth_bound_reads_each_rows_filled_cache_on_average():
    config = small_config(False)
    bound = rollout_throughput.bandwidth_bound(
        config, 8, mean_prompt=100, new_tokens=31, bytes_per_value=2, bandwidth=1e12
    )
    # 3 layers x (keys, values) x 2 heads x 16 dims x 2 bytes, over 100 prompt + 16 generated slots on average.
    assert bound["kv_cache_bytes_per_step"] == 8 * 3 * 2 * 2 * 16 * 2 * 116
    total = bound["weight_bytes_per_step"] + bound["kv_cache_bytes_per_step"]
    assert bound["bound_step_ms"] == pytest.approx(1e3 * total / 1e12)
    assert bound["bound_new_tokens_per_s"] == pytest.approx(8 * 1e12 / total)


def test_summary_compares_ours_with_the_better_transformers_path():
    bound = {"bound_new_tokens_per_s": 1000.0}
    row = {
        "batch": 4,
        "static_generate": {"new_tokens_per_s": 100.0},
        "generate_batch": {"new_tokens_per_s": 250.0},
        "static_decoder": {"new_tokens_per_s": 500.0},
    }
    summary = rollout_throughput.summarize(row, bound)
    assert summary["best_transformers_path"] == "generate_batch"
    assert summary["ours_over_best_transformers"] == pytest.approx(2.0)
    assert summary["ours_fraction_of_bound"] == pytest.approx(0.5)
    assert summary["fraction_of_bound"] == pytest.approx(
        {"static_generate": 0.1, "generate_batch": 0.25, "static_decoder": 0.5}
    )
    assert summary["ours_ms_per_step_incl_prefill"] == pytest.approx(8.0)
    # A failed path (an error, no figure) is left out of the comparison, and no ratio without our figure.
    row["generate_batch"] = {"error": "RuntimeError: ..."}
    assert rollout_throughput.summarize(row, bound)["best_transformers_path"] == "static_generate"
    row["static_decoder"] = {"error": "RuntimeError: ..."}
    summary = rollout_throughput.summarize(row, bound)
    assert "ours_over_best_transformers" not in summary and "ours_fraction_of_bound" not in summary


agent_rollouts = pytest.importorskip("agent_rollouts")


class StubPolicy:
    """Stands in for TransformersPolicy: its call generates through ``self.generate_tokens``."""

    def generate_tokens(self, prompts):
        return [[7] * len(p) for p in prompts]

    def __call__(self, conversations, envs=None):
        return [f"sampled {len(t)}" for t in self.generate_tokens([[1] * len(c) for c in conversations])]


class StubEnv:
    def expert_action(self):
        return "expert"


@pytest.mark.parametrize("expert_code", [False, True])
def test_timed_policy_counts_generation_and_can_step_with_the_expert(expert_code):
    timed = agent_rollouts.TimedPolicy(StubPolicy(), expert_code=expert_code)
    actions = timed([["a", "b"], ["c"]], [StubEnv(), StubEnv()])
    assert actions == (["expert", "expert"] if expert_code else ["sampled 2", "sampled 1"])
    assert (timed.calls, timed.new_tokens, timed.prompt_tokens, timed.longest_prompt) == (1, 3, 3, 2)
    assert 0 < timed.generation_seconds <= timed.policy_seconds
    summary = agent_rollouts.run_summary(4.0, episodes=2, steps=6, timed=timed)
    assert summary["episodes_per_s"] == 0.5 and summary["new_tokens_per_s"] == 0.75
    assert summary["end_to_end_over_generation"] == pytest.approx(4.0 / timed.generation_seconds)
    assert summary["env_seconds"] == pytest.approx(4.0 - timed.policy_seconds)
    timed.reset()
    assert agent_rollouts.run_summary(1.0, 0, 0, timed)["end_to_end_over_generation"] is None


def test_overlapped_runs_are_judged_against_lockstep_generation():
    def row(variant, mode, seconds, generation_seconds, new_tokens):
        return dict(
            variant=variant, mode=mode, seconds=seconds, generation_seconds=generation_seconds, new_tokens=new_tokens
        )

    rows = [row("model", "concurrent", 6.0, 2.0, 1000), row("model", "overlapped", 3.0, 2.5, 1000)]
    rows += [row("expert_code", "overlapped", 1.0, 1.0, 100)]  # no lockstep run of its variant: no ratio
    agent_rollouts.against_lockstep(rows)
    assert rows[0]["end_to_end_over_lockstep_generation"] == pytest.approx(3.0)
    assert rows[1]["end_to_end_over_lockstep_generation"] == pytest.approx(1.5)  # not 3.0 / 2.5
    assert "end_to_end_over_lockstep_generation" not in rows[2]


trajectory_scaling = pytest.importorskip("trajectory_scaling")


def test_cost_growth_series_and_plot(tmp_path):
    def run(batch, tokens_per_s, memory):
        return {"batch_size": batch, "tokens_per_s": tokens_per_s, "peak_memory_gb": memory}

    results = [
        {"turns": 2, "warm_up": True, "trajectory": [run(1, 1.0, 9.0)], "transition": [run(1, 1.0, 9.0)]},
        {"turns": 8, "trajectory": [run(1, 30.0, None), run(4, 40.0, None)], "transition": [run(1, 50.0, None)]},
        {"turns": 2, "trajectory": [run(1, 10.0, None), run(4, 20.0, None)], "transition": [run(1, 5.0, None)]},
    ]
    rows = [r for r in results if not r.get("warm_up")]
    assert trajectory_scaling.series(rows, "tokens_per_s") == {
        ("trajectory", 1): [(2, 10.0), (8, 30.0)],
        ("trajectory", 4): [(2, 20.0), (8, 40.0)],
        ("transition", 1): [(2, 5.0), (8, 50.0)],
    }
    assert trajectory_scaling.series(rows, "peak_memory_gb") == {}  # no GPU memory on CPU: nothing to draw
    path = tmp_path / "scaling.png"
    trajectory_scaling.plot(results, str(path), "cpu")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rollout_sweep_runs_the_headline_batch_first_and_generate_batch_last():
    plan = rollout_throughput.plan([256, 512, 128, 64], list(rollout_throughput.PATHS))
    assert plan[:3] == [(256, "static_generate"), (256, "static_decoder"), (256, "generate_batch")]
    assert plan[3:9] == [(b, p) for b in (512, 128, 64) for p in ("static_generate", "static_decoder")]
    assert plan[9:] == [(512, "generate_batch"), (128, "generate_batch"), (64, "generate_batch")]
    assert rollout_throughput.plan([64, 128], ["static_decoder"]) == [(64, "static_decoder"), (128, "static_decoder")]


train_throughput = pytest.importorskip("train_throughput")


def test_training_rows_separate_compile_time_from_steady_state():
    # 1 s per step after a 30 s first step (compilation); 1000 tokens per step. Warm-up: 3 steps.
    points = [(1, 31.0, 1000), (2, 32.0, 2000), (3, 33.0, 3000), (10, 40.0, 10000), (20, 50.0, 20000)]
    row = train_throughput.summarize(points, warmup=3, params=1000, attention_flops=600.0)
    assert row["tokens_per_s"] == pytest.approx(1000.0) and row["steady_step_s"] == pytest.approx(1.0)
    assert row["steady_steps"] == 17 and row["tokens"] == 20000
    assert row["first_step_s"] == 31.0 and row["warmup_s"] == 33.0
    assert row["compile_s"] == pytest.approx(30.0)  # warm-up time less 3 steady steps
    assert row["mfu"] == pytest.approx(6 * 1000 * 1000.0 / train_throughput.PEAK_FLOPS)
    assert row["mfu_with_attention"] == pytest.approx((6 * 1000 + 600) * 1000.0 / train_throughput.PEAK_FLOPS)


def test_attention_flops_count_causal_pairs_within_each_sequence():
    config = small_config(False)  # 3 layers, 4 heads of 16
    rows = [{"input_ids": [0] * 3}, {"input_ids": [0] * 1}]
    # Sequences of 3 and 1 tokens: 6 + 1 causal (query, key) pairs over 4 tokens; 2 matmuls x 2 FLOPs x 3 (training).
    expected = 3 * 4 * 3 * 64 * (6 + 1) / 4
    assert train_throughput.attention_flops_per_token(rows, config) == pytest.approx(expected)


def test_headline_ratio_is_against_trls_fastest_own_configuration():
    runs = [
        {"config": "mrlm_gpu_defaults", "tokens_per_s": 150.0},
        {"config": "trl_padded_b32", "tokens_per_s": 30.0},
        {"config": "trl_packed_flex_liger", "tokens_per_s": 100.0},
        {"config": "trl_packed_varlen_liger", "tokens_per_s": 140.0},  # mrlm_hf's kernel: not TRL's own
        {"config": "trl_packed_flex_liger_compile", "error": "did not finish within 120 s"},
    ]
    results = {"runs": runs}
    train_throughput.compare(results)
    assert results["best_trl_config"] == "trl_packed_flex_liger"
    assert runs[0]["ratio_vs_best_trl"] == pytest.approx(1.5) and runs[0]["ratio_vs_trl_defaults"] == pytest.approx(5)
    assert "ratio_vs_best_trl" not in runs[4]


def test_repeated_configurations_are_compared_by_their_mean():
    runs = [
        {"config": "mrlm_gpu_defaults", "tokens_per_s": 140.0, "round": 0},
        {"config": "trl_packed_flex_liger", "tokens_per_s": 90.0, "round": 0},
        {"config": "mrlm_gpu_defaults", "tokens_per_s": 160.0, "round": 1},
        {"config": "trl_packed_flex_liger", "tokens_per_s": 110.0, "round": 1},
    ]
    results = {"runs": runs}
    train_throughput.compare(results)
    assert results["mean_tokens_per_s"] == {"mrlm_gpu_defaults": 150.0, "trl_packed_flex_liger": 100.0}
    assert [r["ratio_vs_best_trl"] for r in runs] == pytest.approx([1.5, 1.0, 1.5, 1.0])


grpo_ddp_parity = pytest.importorskip("grpo_ddp_parity")


def test_ddp_parity_reports_the_largest_difference_per_quantity():
    one = {"loss": [1.0, 2.0], "grad_norm": [0.5, 0.25], "weights": {"w": [0.0, 1.0], "b": [2.0]}}
    two = {"loss": [1.0, 2.2], "grad_norm": [0.55, 0.25], "weights": {"w": [0.0, 1.5], "b": [1.75]}}
    assert grpo_ddp_parity.largest_difference(two, one) == pytest.approx(
        {"loss_rel": 0.1, "grad_norm_rel": 0.1, "weights_abs": 0.5}
    )
    with pytest.raises(ValueError):  # a run that logged fewer steps is not silently compared on its prefix
        grpo_ddp_parity.largest_difference({**two, "loss": [1.0]}, one)
