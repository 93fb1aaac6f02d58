"""Padding-free scoring of GRPO/RLOO batches (``PackedLogProbs``): packed rows give TRL's padded log-probabilities,
entropies and gradients, zero at padding; rows it cannot pack go through TRL's path. On CPU the packed rows are kept
apart by a block-diagonal mask (``padding_free=True``); the GPU kernel is covered in ``test_gpu.py``."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import grpo_config, make_tokenizer
from test_rl_dynamics import digit_policy  # also registers its probe_rl environment

from mrlm_hf.rl import (
    EnvGRPOTrainer,
    EnvReward,
    EnvRLOOConfig,
    EnvRLOOTrainer,
    MultiTurnRollout,
    env_prompt_dataset,
)
from mrlm_hf.tiny import build_model

os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"

PROMPTS, COMPLETIONS = (5, 9, 3, 12, 1), (7, 2, 10, 1, 6)


def make_trainer(kind: str, tmp_path, tokenizer):
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_heads=4, num_kv_heads=2)
    dataset = env_prompt_dataset("gridworld", 4, seed=0)
    if kind == "grpo":
        return EnvGRPOTrainer(model, grpo_config(tmp_path, temperature=0.7), dataset, tokenizer)
    args = EnvRLOOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=16,
        temperature=0.7,
        beta=0.0,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
    )
    return EnvRLOOTrainer(
        model, reward_funcs=[EnvReward()], args=args, train_dataset=dataset, processing_class=tokenizer
    )


def padded_batch(prompts=PROMPTS, completions=COMPLETIONS, seed: int = 0):
    """TRL's layout: prompts left-padded, completions right-padded, random ids (0 at padding)."""
    g = torch.Generator().manual_seed(seed)
    width_p, width_c = max(prompts), max(completions)
    ids = torch.zeros(len(prompts), width_p + width_c, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, (p, c) in enumerate(zip(prompts, completions)):
        span = slice(width_p - p, width_p + c)
        ids[row, span] = torch.randint(5, 200, (p + c,), generator=g)
        mask[row, span] = 1
    return ids, mask, width_c


def score(trainer, ids, mask, keep, padding_free):
    """Log-probabilities and entropies of the completion positions and the gradient of their masked sum."""
    trainer.args.padding_free = padding_free
    model = trainer.model
    model.zero_grad(set_to_none=True)
    logps, entropies, _ = trainer._get_per_token_logps_and_entropies(
        model, ids, mask, keep, batch_size=2, compute_entropy=True
    )
    (logps * mask[:, -keep:]).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logps.detach(), entropies.detach(), grads


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_packed_scoring_equals_trls_padded_scoring(tmp_path, kind):
    """Same log-probabilities (temperature applied), entropies and gradients as TRL's padded pass at every
    completion token, zeros at padding, across chunks of rows (batch_size 2 over 5 rows)."""
    trainer = make_trainer(kind, tmp_path, make_tokenizer("chatml"))
    ids, mask, keep = padded_batch()
    assert trainer._packs(trainer.model, mask, keep, {}) == (False, False)  # default (None): only with the kernel
    trainer.args.padding_free = True
    assert trainer._packs(trainer.model, mask, keep, {}) == (True, False)  # CPU: no packed kernel, the mask path
    padded = score(trainer, ids, mask, keep, padding_free=False)
    packed = score(trainer, ids, mask, keep, padding_free=True)
    real = mask[:, -keep:].bool()
    for ours, trls in zip(packed[:2], padded[:2]):
        torch.testing.assert_close(ours[real], trls[real], rtol=1e-5, atol=1e-5)
        assert not ours[~real].any()
    assert padded[2].keys() == packed[2].keys() and padded[2]
    for name, grad in padded[2].items():
        torch.testing.assert_close(packed[2][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_rows_that_cannot_be_packed_go_through_trls_path(tmp_path):
    """A row whose real tokens have a gap, a completion with no prompt token before it, images, or
    padding_free=False: TRL's padded pass (and the result is still TRL's)."""
    trainer = make_trainer("grpo", tmp_path, make_tokenizer("chatml"))
    trainer.args.padding_free = True
    ids, mask, keep = padded_batch()
    gap = mask.clone()
    gap[0, -keep + 2] = 0  # a hole inside row 0's completion
    assert trainer._packs(trainer.model, gap, keep, {}) == (False, False)
    ids2, mask2, keep2 = padded_batch(prompts=(0, 4), completions=(3, 2))
    assert trainer._packs(trainer.model, mask2, keep2, {}) == (False, False)
    assert trainer._packs(trainer.model, mask, keep, {"pixel_values": torch.zeros(1)}) == (False, False)
    trainer.args.padding_free = False
    assert trainer._packs(trainer.model, mask, keep, {}) == (False, False)
    trainer.args.padding_free = True
    ours = trainer._get_per_token_logps_and_entropies(trainer.model, ids, gap, keep, compute_entropy=True)
    trainer.args.padding_free = False
    trls = trainer._get_per_token_logps_and_entropies(trainer.model, ids, gap, keep, compute_entropy=True)
    torch.testing.assert_close(ours[0], trls[0], rtol=0, atol=0)
    torch.testing.assert_close(ours[1], trls[1], rtol=0, atol=0)


def test_padding_free_training_matches_padded_training(tmp_path):
    """Two optimizer steps of multi-turn GRPO (scripted two-turn episodes with distinct returns) with
    padding_free=True log the same losses and gradient norms as with TRL's padded batches."""
    tokenizer = make_tokenizer("chatml")
    logged = {}
    for padding_free in (False, True):
        torch.manual_seed(0)
        model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_heads=4, num_kv_heads=2)
        rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
        rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: (7 * call + 3 * i) % 10)
        args = grpo_config(
            tmp_path / str(padding_free),
            num_generations=4,
            max_steps=2,
            logging_steps=1,
            learning_rate=1e-2,
            seed=0,
            padding_free=padding_free,
        )
        trainer = EnvGRPOTrainer(model, args, env_prompt_dataset("probe_rl", 4, seed=0), tokenizer, rollout=rollout)
        packed, chunk = [], trainer._packed_chunk
        trainer._packed_chunk = lambda *a, packed=packed, chunk=chunk, **k: packed.append(1) or chunk(*a, **k)
        trainer.train()
        assert bool(packed) == padding_free
        logged[padding_free] = torch.tensor(
            [[h["loss"], h["grad_norm"]] for h in trainer.state.log_history if "loss" in h]
        )
    assert logged[True].shape == (2, 2) and logged[True][:, 1].all()
    torch.testing.assert_close(logged[True], logged[False], rtol=1e-4, atol=1e-6)


def test_replay_tool_scores_a_saved_nonfinite_batch_every_way(tmp_path):
    """bench/replay_nonfinite.py on a batch saved by save_nonfinite_batch: on a CPU, padding-free and TRL's padded
    SDPA and eager scorings give the same finite loss and gradient norm, and the JSON names each."""
    import importlib.util
    from pathlib import Path

    from test_rl_dynamics import poisoned_trainer

    trainer, *_ = poisoned_trainer(tmp_path, (2,), max_steps=2, learning_rate=1e-2, save_nonfinite_batch=True)
    with pytest.warns(UserWarning, match="nonfinite_step2"):
        trainer.train()
    path = Path(__file__).resolve().parents[1] / "bench" / "replay_nonfinite.py"
    spec = importlib.util.spec_from_file_location("replay_nonfinite", path)
    replay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replay)
    out = tmp_path / "replay.json"
    results = replay.main([str(tmp_path / "nonfinite_step2"), "--repeats", "1", "--out", str(out)])
    (scores,) = results["folders"].values()
    assert set(scores) == {"padding_free/fp32/0", "padded_sdpa/fp32/0", "padded_eager/fp32/0"}
    reference = scores["padded_sdpa/fp32/0"]
    assert reference["nonfinite_parameters"] == 0 and reference["grad_norm"] > 0
    for score in scores.values():
        assert score["loss"] == pytest.approx(reference["loss"], rel=1e-4, abs=1e-6)
        assert score["grad_norm"] == pytest.approx(reference["grad_norm"], rel=1e-3)
    assert json.loads(out.read_text())["folders"] == json.loads(json.dumps(results["folders"]))


def test_use_varlen_attention_switches_sdpa_models_for_good(monkeypatch):
    """Where the packed kernel runs, an SDPA model is switched to "varlen" permanently (so that activation
    checkpointing's recomputation also keeps packed sequences apart); other implementations only when asked."""
    from mrlm_hf import attention

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_heads=4, num_kv_heads=2)
    model.set_attn_implementation("sdpa")
    assert not attention.use_varlen_attention(model) or torch.cuda.is_available()
    monkeypatch.setattr(attention, "varlen_available", lambda: True)
    model.set_attn_implementation("eager")
    assert not attention.use_varlen_attention(model) and model.config._attn_implementation == "eager"
    assert attention.use_varlen_attention(model, ("sdpa", "eager"))
    assert model.config._attn_implementation == attention.NAME
    model.set_attn_implementation("sdpa")
    assert attention.use_varlen_attention(model) and model.config._attn_implementation == attention.NAME
    assert attention.use_varlen_attention(model)  # already on it
