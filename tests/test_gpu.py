"""GPU-only checks of the fast rollout paths (``python -m pytest -m gpu``; skipped without CUDA).

The CPU suite checks the same logic with the kernel emulated (tests/test_rollout.py); these run the real kernels."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tokenizer

from mrlm_hf.tiny import build_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("heads,kv_heads", [(14, 2), (8, 8)])
def test_flash_cache_window_decode_equals_masked_sdpa(heads, kv_heads):
    """PyTorch's FlashAttention kernel reads exactly the windows: same output as SDPA over the whole cache with the
    window as mask, with large values everywhere outside the windows."""
    from mrlm_hf import attention

    g = torch.Generator(device="cuda").manual_seed(0)
    batch, length, dim = 64, 640, 64
    query = torch.randn(batch, heads, 1, dim, device="cuda", dtype=torch.bfloat16, generator=g)
    key, value = (
        torch.randn(batch, kv_heads, length, dim, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(2)
    )
    start = torch.randint(0, 448, (batch,), device="cuda", generator=g)
    used = torch.randint(1, 192, (batch,), device="cuda", generator=g)
    positions = torch.arange(length, device="cuda")[None]
    window = (positions >= start[:, None]) & (positions < (start + used)[:, None])
    key[~window[:, None].expand_as(key[..., 0])] = 30.0
    value[~window[:, None].expand_as(value[..., 0])] = -30.0
    plain, sliding = torch.nn.Module(), torch.nn.Module()
    sliding.sliding_window = 128
    assert attention.window_decoding_available(query.device)
    assert attention._flash_decodes(plain, query, key, {})
    assert not attention._flash_decodes(sliding, query, key, {})
    assert not attention._flash_decodes(plain, query.float(), key.float(), {})
    expected = attention.grouped_query_decode(query, key, value, window[:, None, None], scaling=dim**-0.5)
    got = attention.cache_window_decode(query, key, value, start, used, scaling=dim**-0.5)
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)


def test_compiled_prefill_blocks_give_the_eager_prefill():
    """The prefill with the cache-free blocks compiled (symbolic token counts) fills the cache and gives the logits
    of the eager prefill (fp32), over chunks of different sizes, and leaves the model uncompiled."""
    from mrlm_hf.attention import decoding_attention
    from mrlm_hf.generation import StaticDecoder, cache_free_blocks

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=64, intermediate_size=128, num_heads=4, num_kv_heads=2).cuda().eval()
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in torch.randint(3, 40, (12,))]
    width = max(map(len, prompts))
    results = []
    for compile in (False, True):
        decoder = StaticDecoder(model, 12, 64, compile=compile, prefill_tokens=100)
        with decoding_attention(model), torch.no_grad():
            logits = decoder._prefill(prompts, width, pad_token_id=0)
        results.append((logits, [layer.keys.clone() for layer in decoder.cache.layers]))
    (eager, eager_keys), (compiled, compiled_keys) = results
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
    for a, b in zip(compiled_keys, eager_keys):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert all("forward" not in block.__dict__ for block in cache_free_blocks(model))


def test_static_decoder_bf16_greedy_follows_generate():
    """bf16, compiled step, windowed FlashAttention decoding: greedy tokens follow plain ``generate`` (bf16 rounding
    differs between the two kernels, so a late divergence is allowed: the first 8 tokens must agree)."""
    from mrlm_hf.generation import StaticDecoder

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=128, intermediate_size=256, num_heads=4, num_kv_heads=2)
    model = model.to("cuda", torch.bfloat16).eval()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in (9, 30, 17, 4)]
    out = StaticDecoder(model, 4, 64).generate(prompts, 16, do_sample=False)
    for prompt, tokens in zip(prompts, out):
        ids = torch.tensor([prompt], device="cuda")
        plain = model.generate(ids, max_new_tokens=16, min_new_tokens=16, do_sample=False, eos_token_id=None)
        assert plain[0, len(prompt) : len(prompt) + 8].tolist() == tokens[:8]


def test_world_model_predictor_on_the_static_decoder_predicts_what_generate_predicts():
    """The learned simulator on the fast rollout path: ``ModelPredictor(decoder="static")`` gives the same greedy
    observations as the default ``generate`` path (fp32, so both kernels agree token for token)."""
    from mrlm_hf.simulator import ModelPredictor, WorldModelEnv

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=64, intermediate_size=128).to("cuda").eval()
    grid = {"size": 5, "difficulty": 1, "max_turns": 15}
    predictions = []
    for decoder in ("generate", "static"):
        predictor = ModelPredictor(model, tokenizer, max_new_tokens=12, decoder=decoder)
        envs = [WorldModelEnv("gridworld", predictor, env_kwargs=grid) for _ in range(4)]
        for i, env in enumerate(envs):
            env.reset(seed=i)
        predictions.append([r[0] for r in WorldModelEnv.step_batch(envs, ["up", "left", "down", "right"])])
    assert predictions[0] == predictions[1]


def test_static_decoder_follows_a_peft_model_as_its_adapter_trains():
    """RL with LoRA on the fast path: the compiled step of ``StaticDecoder`` reads the adapter's current weights, so
    after the adapter changes (as an optimizer step changes it) greedy tokens still equal the peft model's own
    ``generate`` (fp32: both kernels agree token for token) and differ from before the change."""
    from peft import LoraConfig, get_peft_model

    from mrlm_hf.generation import StaticDecoder

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=64, intermediate_size=128, num_heads=4, num_kv_heads=2)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"])
    model = get_peft_model(model.to("cuda"), lora).eval()
    g = torch.Generator().manual_seed(2)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in (9, 30, 17, 4)]
    decoder = StaticDecoder(model, 4, 64)
    rounds = []
    for _ in range(2):
        out = decoder.generate(prompts, 12, do_sample=False)
        for prompt, tokens in zip(prompts, out):
            ids = torch.tensor([prompt], device="cuda")
            plain = model.generate(
                input_ids=ids, max_new_tokens=12, min_new_tokens=12, do_sample=False, eos_token_id=None
            )
            assert plain[0, len(prompt) :].tolist() == tokens
        rounds.append(out)
        with torch.no_grad():  # what training does to the adapter: lora_B leaves zero, the model's outputs move
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 0.5, generator=None)
    assert rounds[0] != rounds[1]


def test_left_padded_bf16_batches_give_finite_gradients():
    """A left-padded batch, where a padding query has no key to attend to, gives finite gradients under bf16 SDPA on
    the H200 (torch 2.11). Empty rows alone are not the trigger: the GRPO batches whose padded SDPA backward did give
    NaN (replayed with bench/replay_nonfinite.py, bench/RESULTS.md) were longer; those are scored padding-free now."""
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=128, intermediate_size=512, num_heads=4, num_kv_heads=4).cuda()
    g = torch.Generator().manual_seed(0)
    lengths = [48, 40, 33, 48, 20, 47, 48, 31]
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n :] = torch.randint(5, 200, (n,), generator=g)
        mask[row, width - n :] = 1
    ids, mask = ids.cuda(), mask.cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logps = logits.log_softmax(-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    (-(logps * mask[:, 1:]).sum() / mask[:, 1:].sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_grpo_scores_padding_free_on_the_gpu_close_to_fp32_padded(tmp_path):
    """On a GPU EnvGRPOTrainer packs by default (PyTorch's packed FlashAttention kernel), with activation checkpointing
    on (TRL's default): in bf16 the log-probabilities of a long padded GRPO-shaped batch follow an fp32 padded
    computation done here independently, and the gradient is finite and points the same way as that computation's."""
    from conftest import grpo_config
    from test_rl_packing import padded_batch

    from mrlm_hf.rl import EnvGRPOTrainer, env_prompt_dataset

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=128, intermediate_size=512, num_heads=4, num_kv_heads=4)
    args = grpo_config(tmp_path, use_cpu=False, bf16=True, temperature=0.7)
    trainer = EnvGRPOTrainer(model, args, env_prompt_dataset("gridworld", 2, seed=0), tokenizer)
    assert trainer.args.activation_checkpointing
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(60, 85, (32,), generator=g).tolist()
    completions = torch.randint(10, 620, (32,), generator=g).tolist()
    ids, mask, keep = padded_batch(prompts, completions)
    ids, mask = ids.cuda(), mask.cuda()
    model = trainer.model.cuda().train()
    model.gradient_checkpointing_enable()
    assert trainer._packs(model, mask, keep, {}) == (True, True)
    real = mask[:, -keep:].bool()
    logps, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, keep, compute_entropy=True)
    (-(logps * real).sum() / real.sum()).backward()
    ours = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert torch.isfinite(ours).all()
    model.zero_grad(set_to_none=True)
    model.set_attn_implementation("sdpa")
    logits = model(input_ids=ids, attention_mask=mask).logits.float()[:, -keep - 1 : -1] / 0.7
    reference = logits.log_softmax(-1).gather(-1, ids[:, -keep:, None])[..., 0]
    (-(reference * real).sum() / real.sum()).backward()
    theirs = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(logps[real].float().detach(), reference[real].detach(), rtol=0, atol=0.1)
    assert torch.nn.functional.cosine_similarity(ours, theirs, dim=0) > 0.99
