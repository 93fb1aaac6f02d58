"""The rollout builder: lockstep batching, determinism, shards that resume, model policies, multi-agent rows."""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import make_tokenizer

from mrlm_hf import ExpertPolicy, RandomPolicy, TextEnv, TransformersPolicy, collect_trajectories
from mrlm_hf.tiny import build_model


class GuessEnv(TextEnv):
    """Guess a seeded number between 0 and 9; 'higher'/'lower' feedback."""

    name = "guess"
    system_prompt = "Guess the number."

    def _reset(self, options):
        self.target = self.rng.randint(0, 9)
        return "Guess a number from 0 to 9.", {"task_id": f"guess-{self.target}"}

    def _step(self, action):
        try:
            guess = int(action.strip())
        except ValueError:
            return "Say a single number.", -0.1, False, {"error": "not_a_number"}
        if guess == self.target:
            return "Correct!", 1.0, True, {"success": True}
        return ("Higher." if guess < self.target else "Lower."), 0.0, False, {}

    def expert_action(self):
        return str(self.target)

    def sample_action(self, rng):
        return str(rng.randint(0, 9))


class TwoAgentEnv(GuessEnv):
    """Reports a second agent's trajectory at the end, like the debate environment."""

    def _step(self, action):
        obs, reward, terminated, info = super()._step(action)
        if terminated or self.turn >= self.max_turns:
            info["agent_trajectories"] = [
                {
                    "agent_id": "agent_1",
                    "role": "rival",
                    "observations": ["o", "end"],
                    "actions": ["a"],
                    "rewards": [-1.0],
                }
            ]
        return obs, reward, terminated, info


def test_expert_rollouts_are_reproducible_and_ordered():
    a = collect_trajectories(GuessEnv, ExpertPolicy(), 10, seed=5, num_envs=3, progress=False)
    b = collect_trajectories(GuessEnv, ExpertPolicy(), 10, seed=5, num_envs=4, progress=False)
    assert a["seed"] == list(range(5, 15))
    assert a.remove_columns("metadata").to_list() == b.remove_columns("metadata").to_list()
    assert all(a["success"]) and a["return"] == [1.0] * 10 and a["length"] == [1] * 10
    assert a[0]["observations"] == ["Guess a number from 0 to 9.", "Correct!"]
    assert json.loads(a[0]["metadata"])["policy"] == "expert"


def test_random_policy_reaches_turn_limit_with_truncation():
    data = collect_trajectories(lambda: GuessEnv(max_turns=2), RandomPolicy(0), 40, progress=False)
    truncated = [r for r in data if r["truncated"]]
    assert truncated and all(not r["terminated"] and r["length"] == 2 for r in truncated)
    assert all(len(r["observations"]) == len(r["actions"]) + 1 == len(r["rewards"]) + 1 for r in data)


def test_policy_calls_are_batched_across_environments():
    calls = []

    def policy(conversations, envs):
        calls.append(len(conversations))
        return [env.expert_action() for env in envs]

    collect_trajectories(GuessEnv, policy, 20, num_envs=8, progress=False)
    assert max(calls) == 8 and sum(calls) == 20


def test_wrong_number_of_actions_is_a_clear_error():
    with pytest.raises(ValueError, match="returned 1 actions for 4"):
        collect_trajectories(GuessEnv, lambda conversations, envs: ["1"], 4, num_envs=4, progress=False)


def test_shards_are_written_as_episodes_finish_and_a_rerun_resumes(tmp_path):
    calls = {"n": 0}

    def flaky(conversations, envs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # the run is interrupted mid-way
        return [env.expert_action() for env in envs]

    flaky.name = "expert"  # both functions are the expert; the shard manifest tells policies apart by name
    with pytest.raises(KeyboardInterrupt):
        collect_trajectories(GuessEnv, flaky, 12, num_envs=2, shard_dir=tmp_path, shard_size=2, progress=False)
    assert len(list(tmp_path.glob("shard-*.parquet"))) >= 2  # finished episodes are on disk
    seen = []

    def counting(conversations, envs):
        seen.extend(env._seed for env in envs)
        return [env.expert_action() for env in envs]

    counting.name = "expert"
    resumed = collect_trajectories(GuessEnv, counting, 12, num_envs=2, shard_dir=tmp_path, shard_size=2, progress=False)
    assert resumed["seed"] == list(range(12))
    assert 0 not in seen and len(seen) < 12  # episodes already on disk are not played again


def test_multi_agent_environments_yield_one_row_per_agent():
    data = collect_trajectories(TwoAgentEnv, ExpertPolicy(), 3, progress=False)
    assert data["agent_id"] == ["agent_0", "agent_1"] * 3
    assert data[1]["role"] == "rival" and data[1]["return"] == -1.0


def test_transformers_policy_generates_batched_and_stops_at_end_of_turn():
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    policy = TransformersPolicy(model, tokenizer, max_new_tokens=8, do_sample=False, batch_size=3)
    conversations = [[{"role": "user", "content": f"What is {i} + 1?"}] for i in range(5)]
    actions = policy(conversations)
    assert len(actions) == 5 and all(isinstance(a, str) for a in actions)
    # Greedy decoding equals per-conversation greedy generate (left padding does not change results).
    single = TransformersPolicy(model, tokenizer, max_new_tokens=8, do_sample=False, batch_size=1)
    assert single(conversations) == actions
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in policy.generation_kwargs["eos_token_id"]


def test_model_rollouts_record_every_step():
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    policy = TransformersPolicy(model, tokenizer, max_new_tokens=4, do_sample=True, seed=0)
    data = collect_trajectories(lambda: GuessEnv(max_turns=2), policy, 4, progress=False)
    assert len(data) == 4 and all(1 <= n <= 2 for n in data["length"])
    assert random.Random(0)  # the policy's own seed made sampling repeatable:
    again = collect_trajectories(
        lambda: GuessEnv(max_turns=2), TransformersPolicy(model, tokenizer, max_new_tokens=4, seed=0), 4, progress=False
    )
    assert again["actions"] == data["actions"]


def test_greedy_model_rollouts_are_the_same_pipelined_and_in_lockstep():
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, initializer_range=0.2)  # varied replies
    policy = TransformersPolicy(model, tokenizer, max_new_tokens=5, do_sample=False, batch_size=8)
    calls = []

    def counted(conversations, envs):
        calls.append(len(conversations))
        return policy(conversations, envs)

    def run(**settings):
        data = collect_trajectories("math", counted, 9, env_kwargs={"max_turns": 3}, seed=3, progress=False, **settings)
        return data.remove_columns("metadata").to_list()

    lockstep = run(num_envs=9, step_workers=1, pipeline_groups=1)
    assert calls == [9, 9, 9]  # every episode runs all 3 turns (the tiny model never answers right): same tokens
    assert len({row["actions"][1] for row in lockstep}) > 3  # the replies depend on the conversation
    assert run(num_envs=3, step_workers=2, pipeline_groups=2) == lockstep
    assert run(num_envs=4, step_workers=1, pipeline_groups=3) == lockstep
    assert calls[3:6] == [3, 3, 3]


def test_static_decoder_matches_generate_greedy_and_stops():
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64).eval()
    conversations = [[{"role": "user", "content": "x" * (i + 1) + f" What is {i} + 1?"}] for i in range(5)]
    reference = TransformersPolicy(model, tokenizer, max_new_tokens=12, do_sample=False, batch_size=8)
    static = TransformersPolicy(
        model, tokenizer, max_new_tokens=12, do_sample=False, batch_size=8, decoder="static", max_cache_len=256
    )
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in reference.prompts(conversations)]
    assert static.generate_tokens(prompts) == reference.generate_tokens(prompts)
    # ... and plain transformers generate on its own SDPA attention (repeated key/value heads), row by row.
    assert model.config._attn_implementation == "sdpa"  # decoding_attention gave it back
    eot_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for prompt, tokens in zip(prompts, static.generate_tokens(prompts)):
        plain = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=eot_id)
        assert plain[0, len(prompt) :].tolist()[: len(tokens)] == tokens
    # Prefill in chunks of a few prompts (shortest first, each chunk padded to its own longest) changes nothing.
    from mrlm_hf.generation import StaticDecoder

    chunked = StaticDecoder(model, 8, 256, prefill_tokens=2 * max(map(len, prompts)))
    assert chunked.generate(prompts, 12, do_sample=False, eos_token_ids=[eot_id]) == static.generate_tokens(prompts)
    # Forced end of turn: the decoder cuts each row after its first end token.
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = static._static.generate(prompts, 8, do_sample=False, eos_token_ids=[eot, *prompts[0][:1]])
    assert all(len(row) <= 8 for row in out)
    sampled = TransformersPolicy(model, tokenizer, max_new_tokens=6, decoder="static", seed=0, batch_size=8)
    assert sampled.generate_tokens(prompts) == TransformersPolicy(
        model, tokenizer, max_new_tokens=6, decoder="static", seed=0, batch_size=8
    ).generate_tokens(prompts)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_prefill_fills_the_same_cache_as_the_padded_one(attn):
    """Prompts packed back to back in one row (block-diagonal mask on CPU) give the padded prefill's cache and logits."""
    from mrlm_hf.attention import decoding_attention
    from mrlm_hf.generation import StaticDecoder

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_heads=4, num_kv_heads=2)
    model.set_attn_implementation(attn)
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in (7, 3, 12, 1, 9)]
    width = 12
    filled = {}
    for prefill in ("padded", "packed"):
        decoder = StaticDecoder(model, 6, 32, compile=False, prefill=prefill, prefill_tokens=20)
        with decoding_attention(model):
            logits = decoder._prefill(prompts, width, pad_token_id=0)
        cache = [
            (layer.keys[:, :, :width].clone(), layer.values[:, :, :width].clone()) for layer in decoder.cache.layers
        ]
        filled[prefill] = logits, cache
        assert decoder._packed_prefill() == (prefill == "packed")
    (padded_logits, padded_cache), (packed_logits, packed_cache) = filled["padded"], filled["packed"]
    torch.testing.assert_close(packed_logits, padded_logits, rtol=1e-5, atol=1e-5)
    for row, prompt in enumerate(prompts):  # the cache slots that hold each prompt, right-aligned at width
        start = width - len(prompt)
        for (k_pad, v_pad), (k_pack, v_pack) in zip(padded_cache, packed_cache):
            torch.testing.assert_close(k_pack[row, :, start:], k_pad[row, :, start:], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(v_pack[row, :, start:], v_pad[row, :, start:], rtol=1e-5, atol=1e-5)
    packed = StaticDecoder(model, 6, 32, compile=False, prefill="packed", prefill_tokens=20)
    padded = StaticDecoder(model, 6, 32, compile=False, prefill="padded")
    assert packed.generate(prompts, 8, do_sample=False) == padded.generate(prompts, 8, do_sample=False)
    with pytest.raises(ValueError, match="'auto', 'packed' or 'padded'"):
        StaticDecoder(model, 6, 32, compile=False, prefill="ragged")


@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (14, 2), (4, 1)])
@pytest.mark.parametrize("mask_kind", ["none", "bool", "additive"])
def test_grouped_query_decode_equals_sdpa_with_repeated_key_value_heads(heads, kv_heads, mask_kind):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from mrlm_hf.attention import grouped_query_decode, varlen_attention_forward

    g = torch.Generator().manual_seed(heads * 10 + kv_heads)
    batch, length, dim = 3, 9, 16
    query = torch.randn(batch, heads, 1, dim, generator=g)
    key, value = (torch.randn(batch, kv_heads, length, dim, generator=g) for _ in range(2))
    keep = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    keep[0, ..., :4] = False  # left padding of different widths, and an unfilled cache tail
    keep[1, ..., 7:] = False
    mask = {"none": None, "bool": keep, "additive": torch.where(keep, 0.0, float("-inf"))}[mask_kind]
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal, module.training = heads // kv_heads, True, False
    expected, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=dim**-0.5)
    got = grouped_query_decode(query, key, value, mask, scaling=dim**-0.5)
    assert got.shape == expected.shape == (batch, 1, heads, dim)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    routed, _ = varlen_attention_forward(module, query, key, value, mask, scaling=dim**-0.5)
    torch.testing.assert_close(routed, expected, rtol=1e-5, atol=1e-6)
    # A masked-out position changes nothing; an attended one does.
    key2 = key.clone()
    if mask is not None:
        key2[0, :, 0] += 5.0
        torch.testing.assert_close(grouped_query_decode(query, key2, value, mask, scaling=dim**-0.5), got)
    key2[0, :, 5] += 5.0
    assert not torch.allclose(grouped_query_decode(query, key2, value, mask, scaling=dim**-0.5), got)


def test_decoding_attention_switches_sdpa_models_only_for_the_block():
    from mrlm_hf.attention import decoding_attention

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    with decoding_attention(model):
        assert model.config._attn_implementation == "varlen"
    assert model.config._attn_implementation == "sdpa"
    model.set_attn_implementation("eager")
    with decoding_attention(model):
        assert model.config._attn_implementation == "eager"


def emulated_packed_flash(query, key, value, query_bounds, key_starts, max_query, max_key, scaling, keys_used):
    """The contract of ``packed_flash_attention`` (CUDA-only kernel) in plain PyTorch: sequence i is queries
    ``query_bounds[i]:query_bounds[i+1]`` over keys ``key_starts[i]:key_starts[i] + keys_used[i]``, no causal mask."""
    out = torch.zeros_like(query)
    for i in range(len(keys_used)):
        q_rows = slice(int(query_bounds[i]), int(query_bounds[i + 1]))
        k_rows = slice(int(key_starts[i]), int(key_starts[i]) + int(keys_used[i]))
        assert q_rows.stop - q_rows.start <= max_query and k_rows.stop - k_rows.start <= max_key
        scores = torch.einsum("qhd,khd->hqk", query[q_rows], key[k_rows]) * scaling
        out[q_rows] = torch.einsum("hqk,khd->qhd", scores.softmax(-1), value[k_rows])
    return out


@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (14, 2), (4, 1)])
def test_cache_window_decode_reads_exactly_each_rows_filled_slots(monkeypatch, heads, kv_heads):
    """The packed-sequence arguments select each row's window of the flattened cache: equal to SDPA over the cache
    with the window as mask, however large the values outside the window."""
    from mrlm_hf import attention

    monkeypatch.setattr(attention, "packed_flash_attention", emulated_packed_flash)
    g = torch.Generator().manual_seed(heads + kv_heads)
    batch, length, dim = 4, 12, 8
    query = torch.randn(batch, heads, 1, dim, generator=g)
    key, value = (torch.randn(batch, kv_heads, length, dim, generator=g) for _ in range(2))
    start, used = torch.tensor([0, 3, 7, 5]), torch.tensor([12, 4, 5, 1])
    window = torch.arange(length)[None] >= start[:, None]
    window &= torch.arange(length)[None] < (start + used)[:, None]
    key[~window[:, None].expand_as(key[..., 0])] = 1e3  # outside the windows: values that would dominate
    value[~window[:, None].expand_as(value[..., 0])] = -1e3
    expected = attention.grouped_query_decode(query, key, value, window[:, None, None], scaling=dim**-0.5)
    got = attention.cache_window_decode(query, key, value, start, used, scaling=dim**-0.5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    shifted = attention.cache_window_decode(query, key, value, start + 1, used - 1, scaling=dim**-0.5)
    assert not torch.allclose(shifted, expected)


def test_static_decoder_passes_each_rows_cache_window_to_varlen_attention(monkeypatch):
    """With the kernel emulated on CPU, the windowed decoding path generates what the masked one does."""
    from mrlm_hf import attention, generation
    from mrlm_hf.generation import StaticDecoder

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_heads=4, num_kv_heads=2)
    g = torch.Generator().manual_seed(2)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in (7, 3, 12, 1, 9)]
    masked = StaticDecoder(model, 6, 32, compile=False).generate(prompts, 10, do_sample=False)
    monkeypatch.setattr(generation, "window_decoding_available", lambda device: True)
    monkeypatch.setattr(attention, "_flash_decodes", lambda module, query, key, kwargs: True)
    monkeypatch.setattr(attention, "packed_flash_attention", emulated_packed_flash)
    windows, decode = [], attention.cache_window_decode

    def recorded(query, key, value, cache_start, cache_used, scaling=None):
        windows.append((cache_start.tolist(), cache_used.tolist()))
        return decode(query, key, value, cache_start, cache_used, scaling)

    monkeypatch.setattr(attention, "cache_window_decode", recorded)
    windowed = StaticDecoder(model, 6, 32, compile=False).generate(prompts, 10, do_sample=False)
    assert windowed == masked
    # Step k (after the prefill) reads, in each row, its prompt and the k + 1 tokens generated so far, right-aligned
    # at the longest prompt; the row that pads the batch to 6 reads one empty slot and its own tokens.
    layers, width, lengths = model.config.num_hidden_layers, 12, [7, 3, 12, 1, 9, 1]
    assert len(windows) == 9 * layers
    for k in range(9):
        expected = ([width - n for n in lengths], [n + k + 1 for n in lengths])
        assert windows[k * layers : (k + 1) * layers] == [expected] * layers


def test_prefill_compiles_the_cache_free_blocks_and_gives_the_model_back(monkeypatch):
    """With compile on, the decoder layers' norms and MLP (not attention, which indexes the cache by layer) run
    compiled during the prefill only; the model's own forwards (e.g. accelerate hooks) are back afterwards."""
    from mrlm_hf.generation import StaticDecoder, cache_free_blocks

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_layers=3)
    blocks = cache_free_blocks(model)
    assert len(blocks) == 3 * 3
    assert {type(b).__name__ for b in blocks} == {"Qwen2MLP", "Qwen2RMSNorm"}
    assert not any(hasattr(m, "layer_idx") for b in blocks for m in b.modules())
    compiled_calls = []

    def fake_compile(fn, **kwargs):  # records which functions run "compiled", and when
        def run(*args, **kw):
            compiled_calls.append(getattr(fn, "__self__", fn))
            return fn(*args, **kw)

        return run

    hooked = blocks[0]
    own_forward = hooked.forward
    hooked.forward = lambda *a, **kw: own_forward(*a, **kw)  # an instance-level forward, as accelerate's hooks set
    hook = hooked.forward
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(5, 200, (int(n),), generator=g).tolist() for n in (7, 3, 12)]
    eager = StaticDecoder(model, 4, 32, compile=False).generate(prompts, 6, do_sample=False)
    monkeypatch.setattr(torch, "compile", fake_compile)
    decoder = StaticDecoder(model, 4, 32, compile=True)
    assert decoder.generate(prompts, 6, do_sample=False) == eager
    assert {id(m) for m in compiled_calls if m in blocks} == {id(b) for b in blocks[1:]}  # the hook wraps blocks[0]
    assert hooked.__dict__["forward"] is hook
    assert all("forward" not in b.__dict__ for b in blocks[1:])


def test_decoding_step_compiles_at_most_twice_over_batch_sizes(monkeypatch):
    """A new batch size must not cost a new compilation each time: the first size gets its own graph, the second
    one with a symbolic batch dimension that every later size reuses (bench/rollout_throughput.py sweeps sizes)."""
    from torch._dynamo.testing import CompileCounter

    from mrlm_hf.generation import StaticDecoder

    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, num_layers=2).eval()
    real_compile, counters = torch.compile, {}

    def counting_compile(fn, **kwargs):  # the real dynamo, with a backend that counts graphs and runs them eagerly
        counter = counters.setdefault(getattr(fn, "__name__", "?"), CompileCounter())
        return real_compile(fn, backend=counter, dynamic=kwargs.get("dynamic"))

    monkeypatch.setattr(torch, "compile", counting_compile)
    torch._dynamo.reset()
    try:
        for batch in (4, 8, 2, 6):
            prompts = [list(range(10, 14 + i % 3)) for i in range(batch)]
            eager = StaticDecoder(model, batch, 32, compile=False).generate(prompts, 4, do_sample=False)
            assert StaticDecoder(model, batch, 32, compile=True).generate(prompts, 4, do_sample=False) == eager
    finally:
        torch._dynamo.reset()
    assert counters["_decode"].frame_count == 2
