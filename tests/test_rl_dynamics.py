"""Is the multi-turn GRPO update correct? Group alignment through TRL's buffering, the direction and mask of one
update, and sampling == training distribution (temperature, padding), all with the real ``EnvGRPOTrainer`` on CPU."""

from __future__ import annotations

import os
import re
import warnings

import pytest
import torch
from conftest import grpo_config, make_tokenizer

from mrlm_hf.envs import TextEnv, register_env
from mrlm_hf.rl import EnvGRPOConfig, EnvGRPOTrainer, MultiTurnRollout, env_prompt_dataset
from mrlm_hf.tiny import build_model

os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"


class ProbeEnv(TextEnv):
    """Two turns; each action (a digit) earns ``10 * seed + digit``, so a return names both its task and its sample.
    The observation after an action depends on it (odd: 'Good.', even: 'Bad.') and holds no digit."""

    name = "probe_rl"
    system_prompt = "Pick a digit."

    def __init__(self, max_turns: int = 2) -> None:
        super().__init__(max_turns=max_turns)

    def _reset(self, options):
        return f"Task {self._seed}", {}

    def _step(self, action):
        digit = int(action) if action.isdigit() else 0
        return ("Good." if digit % 2 else "Bad."), float(10 * self._seed + digit), False, {"success": True}

    def expert_action(self) -> str:
        return "1"


register_env("probe_rl", ProbeEnv, overwrite=True)


def digit_policy(tokenizer, rollout, choose, record=None):
    """Scripted generate: ``choose(call, index)`` gives the text each running episode 'samples' (then end of turn)."""
    calls = [0]

    def generate(contexts, max_new_tokens, envs):
        out = []
        for index in range(len(envs)):
            ids = tokenizer(str(choose(calls[0], index)), add_special_tokens=False)["input_ids"]
            out.append((ids + [rollout.turn_end_id])[:max_new_tokens])
        calls[0] += 1
        if record is not None:
            record.append(out)
        return out

    return generate


def config(tmp_path, **overrides) -> EnvGRPOConfig:
    return grpo_config(tmp_path, **{"num_generations": 4, "logging_steps": 1, "seed": 0, **overrides})


def group_advantages(returns: torch.Tensor) -> torch.Tensor:
    """TRL's default (scale_rewards='group') advantage of a group of returns, computed here independently."""
    return (returns - returns.mean()) / (returns.std() + 1e-4)


def test_groups_share_a_seed_and_each_reward_is_its_own_episode(tmp_path):
    """Through trainer.train() (steps_per_generation 2, num_iterations 2: TRL shuffles, splits and reuses the
    generation batch), every micro-batch row's advantage equals the one recomputed from *that row's* tokens: its
    seed (read from its prompt) and its sampled digits (read from its trained tokens), grouped with the other rows of
    the same seed in its generation batch. Each generation batch holds G rows of each of its seeds."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
    rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: (7 * call + 3 * i) % 10)
    dataset = env_prompt_dataset("probe_rl", 6, seed=0)
    args = config(tmp_path, steps_per_generation=2, num_iterations=2, max_steps=8, learning_rate=1e-3)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer, rollout=rollout)
    seen = []
    compute_loss = trainer.compute_loss

    def recording(model, inputs, *a, **k):
        seen.append({key: value.clone() for key, value in inputs.items() if torch.is_tensor(value)})
        return compute_loss(model, inputs, *a, **k)

    trainer.compute_loss = recording
    trainer.train()
    assert len(seen) == 8  # 2 generations x (2 slices x 2 iterations)

    def rows_of(batch):
        out = []
        for i in range(batch["completion_ids"].size(0)):
            prompt = tokenizer.decode(batch["prompt_ids"][i][batch["prompt_mask"][i].bool()])
            seed = int(re.findall(r"Task (\d+)", prompt)[-1])
            mask = (batch["completion_mask"][i] * batch["tool_mask"][i]).bool()
            digits = tokenizer.decode(batch["completion_ids"][i][mask], skip_special_tokens=True)
            assert len(digits) == 2 and digits.isdigit()  # two sampled actions, nothing of the environment
            episode_return = sum(10 * seed + int(d) for d in digits)
            out.append((seed, episode_return, float(batch["advantages"][i]), digits))
        return out

    for generation in (seen[0:4], seen[4:8]):
        first = rows_of(generation[0]) + rows_of(generation[1])
        second = rows_of(generation[2]) + rows_of(generation[3])
        assert sorted(first) == sorted(second)  # the second iteration reuses the same episodes and advantages
        seeds = {seed for seed, *_ in first}
        assert len(seeds) == 2 and all(sum(s == seed for s, *_ in first) == 4 for seed in seeds)
        assert len({digits for *_, digits in first}) > 2  # the samples of a group differ
        for seed in seeds:
            group = [(r, a) for s, r, a, _ in first if s == seed]
            expected = group_advantages(torch.tensor([r for r, _ in group], dtype=torch.float64))
            assert [a for _, a in group] == pytest.approx(expected.tolist(), abs=1e-4)
    assert trainer.state.log_history[0]["reward"] > 0  # TRL logged the returns it grouped
    assert trainer.state.log_history[0]["rollout/truncated_by_length"] == 0


def completion_logps(model, prompt_ids, completion_ids, temperature=1.0):
    """Per-token log-probabilities of ``completion_ids`` after ``prompt_ids`` (one plain forward pass)."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1] / temperature
    return torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(completion_ids)[:, None])[:, 0]


def action_mask(completion_ids, turns):
    """The sampled positions of a 2-turn episode, found without env_mask: the first action opens the completion and
    the last one closes it (the environment's turn sits between)."""
    first, last = turns
    assert completion_ids[: len(first)] == first and completion_ids[-len(last) :] == last
    mask = [0] * len(completion_ids)
    mask[: len(first)] = [1] * len(first)
    mask[-len(last) :] = [1] * len(last)
    return torch.tensor(mask, dtype=torch.float32)


def test_one_update_raises_positive_and_lowers_negative_episodes(tmp_path):
    """One optimizer step of the real trainer on one group (two episodes say '2' twice: return 4; two say '1':
    return 2): the summed log-probability of every positive episode's sampled tokens goes up and every negative
    one's goes down, measured with an independent forward pass."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
    choose = lambda call, i: 2 if i % 2 else 1  # noqa: E731
    dataset = env_prompt_dataset("probe_rl", 1, seed=0)
    record: list = []
    episodes = rollout.rollout([dataset[0]] * 4, digit_policy(tokenizer, rollout, choose, record))
    rollout.generate = digit_policy(tokenizer, rollout, choose)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(
        model, config(tmp_path, max_steps=1, learning_rate=1e-2), dataset, tokenizer, rollout=rollout
    )

    def summed_logps():
        out = []
        for i in range(4):
            completion = episodes["completion_ids"][i]
            mask = action_mask(completion, [record[0][i], record[1][i]])
            out.append(float((completion_logps(model, episodes["prompt_ids"][i], completion) * mask).sum()))
        return torch.tensor(out)

    before = summed_logps()
    trainer.train()
    change = summed_logps() - before
    assert episodes["episode_return"] == [2.0, 4.0, 2.0, 4.0]
    assert (change[[1, 3]] > 0).all() and (change[[0, 2]] < 0).all(), change


def test_update_is_the_policy_gradient_on_sampled_tokens_only(tmp_path):
    """The gradient of TRL's loss equals the gradient of -sum_i A_i * sum_t log pi(a_it) / (number of sampled
    tokens), with A_i from the returns and the sampled positions found without env_mask: the sign, the advantages and
    the mask (no observation or template token trained) are all checked at once."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
    digits = [1, 2, 2, 5]
    record: list = []
    rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: digits[i], record)
    dataset = env_prompt_dataset("probe_rl", 1, seed=0)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, config(tmp_path), dataset, tokenizer, rollout=rollout)
    trainer.model.train()
    rows = [dataset[0] for _ in range(4)]  # distinct dicts: TRL writes the rollout's fields into each
    inputs = trainer._generate_and_score_completions(rows)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    params = [p for p in model.parameters() if p.requires_grad]

    trainer.compute_loss(model, inputs).backward()
    trl_grad = torch.cat([p.grad.flatten() for p in params])
    model.zero_grad()

    advantages = group_advantages(torch.tensor([2.0 * d for d in digits]))
    terms, count = [], 0
    for i in range(4):
        prompt = inputs["prompt_ids"][i][inputs["prompt_mask"][i].bool()].tolist()
        completion = inputs["completion_ids"][i][inputs["completion_mask"][i].bool()].tolist()
        mask = action_mask(completion, [record[0][i], record[1][i]])
        ids = torch.tensor([prompt + completion])
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1] / trainer.args.temperature
        logps = torch.log_softmax(logits, -1).gather(-1, ids[0, len(prompt) :, None])[:, 0]
        terms.append(advantages[i] * (logps * mask).sum())
        count += int(mask.sum())
    (-torch.stack(terms).sum() / count).backward()
    reference = torch.cat([p.grad.flatten() for p in params])
    assert torch.nn.functional.cosine_similarity(trl_grad, reference, dim=0) > 0.9999
    assert trl_grad.norm().item() == pytest.approx(reference.norm().item(), rel=1e-3)


@pytest.mark.parametrize(("decoder", "temperature"), [("generate", 1.0), ("generate", 1.7), ("static", 1.7)])
def test_rollout_samples_from_the_distribution_trl_trains(tmp_path, monkeypatch, decoder, temperature):
    """The rollout's real sampler (TransformersPolicy through the trainer; transformers' generate or the static
    decoder) draws each action token from exactly the distribution whose log-probabilities TRL computes for the loss
    (same temperature, same positions under left padding): the log-probabilities it sampled from equal TRL's
    old_per_token_logps."""
    import mrlm_hf.generation as generation

    tokenizer = make_tokenizer("chatml")
    from datasets import concatenate_datasets

    grids = [env_prompt_dataset("gridworld", 1, seed=3, env_kwargs={"size": n, "max_turns": 3}) for n in (4, 5)]
    dataset = concatenate_datasets(grids)  # prompts of two lengths: generated together, they are left-padded
    args = config(
        tmp_path,
        max_completion_length=400,
        max_turn_tokens=4,
        temperature=temperature,
        rollout_decoder=decoder,
        rollout_max_cache_len=512,
        steps_per_generation=2,  # generation not aligned with optimizer steps: TRL computes old_per_token_logps
    )
    # Large initial weights: sharp attention, so a wrong position (a padding offset) changes the log-probabilities.
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32, initializer_range=0.5)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer)
    sampled: dict[tuple, list[tuple[list[int], list[float]]]] = {}  # context -> (sampled ids, their logps) per row
    padded = []
    generate = model.generate

    def recording(input_ids, attention_mask, **kwargs):
        out = generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_scores=True,
            return_dict_in_generate=True,
            **kwargs,
        )
        padded.append(bool((attention_mask == 0).any()))
        new = out.sequences[:, input_ids.size(1) :]
        logps = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], 1)  # the processed scores
        for row in range(input_ids.size(0)):
            context = tuple(input_ids[row][attention_mask[row].bool()].tolist())
            tokens = new[row].tolist()
            sampled.setdefault(context, []).append((tokens, logps[row].gather(-1, new[row][:, None])[:, 0].tolist()))
        return out.sequences

    steps: list[torch.Tensor] = []  # static decoder: log-probability of each step's pick, per batch row
    pick, static_generate = generation._pick, generation.StaticDecoder._generate

    def recording_pick(logits, temperature, sample):
        token = pick(logits, temperature, sample)
        steps.append(torch.log_softmax(logits.float() / temperature, -1).gather(-1, token[:, None])[:, 0])
        return token

    def recording_static(self, prompts, max_new_tokens, **kwargs):
        steps.clear()
        out = static_generate(self, prompts, max_new_tokens, **kwargs)
        padded.append(len({len(p) for p in prompts}) > 1)
        for row, (prompt, tokens) in enumerate(zip(prompts, out)):
            logps = [float(steps[t][row]) for t in range(len(tokens))]
            sampled.setdefault(tuple(prompt), []).append((tokens, logps))
        return out

    model.generate = recording
    monkeypatch.setattr(generation, "_pick", recording_pick)
    monkeypatch.setattr(generation.StaticDecoder, "_generate", recording_static)
    trainer.model.train()
    rows = [dataset[i // 4] for i in range(8)]
    batch = trainer._generate_and_score_completions(rows)
    assert any(padded)  # contexts of different lengths were generated together (left padding exercised)
    compared = 0
    for i in range(len(rows)):
        prompt = batch["prompt_ids"][i][batch["prompt_mask"][i].bool()].tolist()
        length = int(batch["completion_mask"][i].sum())
        completion = batch["completion_ids"][i, :length].tolist()
        mask = batch["tool_mask"][i, :length].tolist()
        start = 0
        while start < length:
            if not mask[start]:
                start += 1
                continue
            end = start
            while end < length and mask[end]:
                end += 1
            segment = completion[start:end]
            candidates = sampled[tuple(prompt + completion[:start])]
            expected = next(lp for ids, lp in candidates if ids[: len(segment)] == segment)[: len(segment)]
            trained = batch["old_per_token_logps"][i, start:end].tolist()
            assert trained == pytest.approx(expected, abs=2e-4)
            compared += end - start
            start = end
    assert compared >= 16


class CostEnv(TextEnv):
    """A per-step cost and no goal (every episode fails); the observation after 'a' is long, after 'b' short."""

    name = "cost_rl"
    system_prompt = "Act."

    def __init__(self, max_turns: int = 6) -> None:
        super().__init__(max_turns=max_turns)

    def _reset(self, options):
        return "Go.", {}

    def _step(self, action):
        return ("What is 3 + 4? " * 4 if action == "a" else "Ok."), -0.01, False, {"success": False}

    def expert_action(self) -> str:
        return "b"


register_env("cost_rl", CostEnv, overwrite=True)


def test_an_episode_cut_by_length_does_not_outscore_one_played_to_the_end():
    """With a per-step cost, a failure whose long observations exhaust max_completion_length ends early with a
    partial return above a failure played to max_turns (GRPO would reward the long text); the rollout reports the
    cut, and truncated_return gives it the failure's return instead."""
    tokenizer = make_tokenizer("chatml")
    row = env_prompt_dataset("cost_rl", 1)[0]
    rollout = MultiTurnRollout(tokenizer, max_completion_length=100)

    def play(action):
        out = rollout.rollout([row], digit_policy(tokenizer, rollout, lambda call, i: action))
        return out["episode_return"][0], out["truncated_by_length"][0], out["num_turns"][0]

    (long_return, long_cut, _), (short_return, short_cut, short_turns) = play("a"), play("b")
    assert long_cut and not short_cut and short_turns == 6
    assert long_return > short_return == pytest.approx(-0.06)  # the hazard
    rollout.truncated_return = -0.06
    assert [play("a")[0], play("b")[0]] == pytest.approx([-0.06, -0.06])


def test_signal_script_splits_the_loss_weight_by_kind_of_group():
    """bench/grpo_signal.py end to end, tiny: the shares of each scale_rewards setting sum to 1, and dividing by the
    batch's standard deviation instead of each group's gives the success-vs-failure groups more of the weight."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from grpo_signal import main

    results = main(["--tasks", "24", "--epsilon", "0.1", "--demo_episodes", "40"])
    for run in results["runs"]:
        for share in run["loss_weight_share"].values():
            assert sum(share.values()) == pytest.approx(1.0, abs=1e-3)
        assert run["loss_weight_share"]["batch"]["mixed"] > run["loss_weight_share"]["group"]["mixed"]
    assert [run["episodes_cut_by_length"] == 0 for run in results["runs"]] == [False, True]


def test_cut_episodes_are_logged_and_warned_once(tmp_path):
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=100)
    rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: "a")  # long observations: every episode cut
    dataset = env_prompt_dataset("cost_rl", 1)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, config(tmp_path, max_completion_length=100), dataset, tokenizer, rollout=rollout)
    trainer.model.train()
    with pytest.warns(UserWarning, match="cut by max_completion_length=100"):
        trainer._generate_and_score_completions([dataset[0] for _ in range(4)])
    assert trainer._metrics["train"]["rollout/truncated_by_length"] == [1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        trainer._generate_and_score_completions([dataset[0] for _ in range(4)])  # warned once only


def test_environment_tokens_whose_logps_drifted_leave_the_gradient_finite_and_unchanged(tmp_path):
    """TRL computes exp(logp - old_logp) at every position; environment tokens are never trained, so their old
    log-probabilities can be far below the current ones (an H200 run hit inf * 0 = NaN in the backward after 150 steps).
    Old log-probabilities 1000 nats low at every untrained position must give the on-policy gradient, finite."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
    rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: [1, 2, 2, 5][i])
    dataset = env_prompt_dataset("probe_rl", 1, seed=0)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, config(tmp_path), dataset, tokenizer, rollout=rollout)
    trainer.model.train()
    inputs = trainer._generate_and_score_completions([dataset[0] for _ in range(4)])
    trainer.current_gradient_accumulation_steps = 1
    params = [p for p in model.parameters() if p.requires_grad]

    def gradient(batch):
        model.zero_grad()
        trainer.compute_loss(model, batch).backward()
        return torch.cat([p.grad.flatten() for p in params])

    on_policy = gradient(inputs)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    with torch.no_grad():
        current, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, inputs["completion_ids"].size(1))
    trained = (inputs["completion_mask"] * inputs["tool_mask"]).bool()
    assert (~trained).any() and trained.any()
    drifted = gradient({**inputs, "old_per_token_logps": torch.where(trained, current, current - 1000.0)})
    assert torch.isfinite(drifted).all()
    torch.testing.assert_close(drifted, on_policy, rtol=1e-5, atol=1e-7)


def poisoned_trainer(tmp_path, poisoned_backwards, **kwargs):
    """A tiny GRPO run on probe_rl whose embedding gradient is NaN at the backward passes numbered in
    ``poisoned_backwards`` (1-based; None: every one). Returns (trainer, model, tokenizer, dataset, backward count)."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=64)
    rollout.generate = digit_policy(tokenizer, rollout, lambda call, i: [1, 2, 2, 5][i])
    dataset = env_prompt_dataset("probe_rl", 8, seed=0)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, config(tmp_path, **kwargs), dataset, tokenizer, rollout=rollout)
    backwards = [0]

    def poison(grad):
        backwards[0] += 1
        poisoned = poisoned_backwards is None or backwards[0] in poisoned_backwards
        return grad * float("nan") if poisoned else grad

    model.get_input_embeddings().weight.register_hook(poison)
    return trainer, model, tokenizer, dataset, backwards


def test_the_first_nonfinite_gradient_can_be_saved_for_a_replay(tmp_path):
    """save_nonfinite_batch: the poisoned step's micro-batch and the weights before that step are saved (once),
    exactly what the trainer used, and a fresh trainer can compute the loss on them."""
    from transformers import AutoModelForCausalLM

    trainer, model, tokenizer, dataset, _ = poisoned_trainer(
        tmp_path, (2, 3), max_steps=3, learning_rate=1e-2, save_nonfinite_batch=True
    )
    seen, before = [], []
    original = trainer.compute_loss

    def recorded(model, inputs, *rest, **kwargs):
        seen.append({k: v.detach().clone() for k, v in inputs.items() if torch.is_tensor(v)})
        before.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return original(model, inputs, *rest, **kwargs)

    trainer.compute_loss = recorded
    with pytest.warns(UserWarning, match="nonfinite_step2"):
        trainer.train()
    assert sorted(p.name for p in tmp_path.glob("nonfinite_step*")) == ["nonfinite_step2"]  # the first skip only
    folder = tmp_path / "nonfinite_step2"
    saved = torch.load(folder / "inputs_rank0.pt")
    assert {"prompt_ids", "completion_ids", "tool_mask", "advantages"} <= set(saved)
    for key, value in seen[1].items():
        assert torch.equal(saved[key], value), key
    reloaded = AutoModelForCausalLM.from_pretrained(folder)
    for key, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, before[1][key], rtol=0, atol=0)
    replay = EnvGRPOTrainer(reloaded, config(tmp_path / "replay"), dataset, tokenizer)
    replay.current_gradient_accumulation_steps = 1
    assert torch.isfinite(replay.compute_loss(replay.model, saved))


@pytest.mark.parametrize("guard", [10, 0])
def test_a_nonfinite_gradient_skips_the_step_and_keeps_the_weights(tmp_path, guard):
    """A NaN gradient at the second optimizer step: with the guard that step is skipped (weights unchanged, counted in
    nonfinite_grad_steps) and training goes on; without it (0) the NaN reaches the weights."""
    from transformers import TrainerCallback

    trainer, model, *_, backwards = poisoned_trainer(
        tmp_path, (2,), max_steps=3, learning_rate=1e-2, max_nonfinite_grad_steps=guard
    )
    weight = model.get_input_embeddings().weight
    snapshots = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            snapshots.append(weight.detach().clone())

    trainer.add_callback(Snapshot())
    trainer.train()
    assert backwards[0] == 3 and len(snapshots) == 3
    if guard:
        torch.testing.assert_close(snapshots[1], snapshots[0], rtol=0, atol=0)  # the poisoned step was skipped
        assert not torch.equal(snapshots[2], snapshots[1])  # and training went on
        assert all(torch.isfinite(s).all() for s in snapshots)
        logged = [h["nonfinite_grad_steps"] for h in trainer.state.log_history if "nonfinite_grad_steps" in h]
        assert logged == [1.0]
    else:
        assert not torch.isfinite(snapshots[1]).all()


def test_consecutive_nonfinite_gradients_stop_training(tmp_path):
    trainer, *_ = poisoned_trainer(tmp_path, None, max_steps=4, max_nonfinite_grad_steps=2)
    with pytest.raises(FloatingPointError, match="3 optimizer steps in a row"):
        trainer.train()
