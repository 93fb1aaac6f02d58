"""Multi-turn GRPO rollouts and environment rewards: returns, exact masks on several templates, sampled == trained ids."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import TEMPLATE_SPECS, grpo_config, make_tokenizer

from mrlm_hf.chat import end_of_turn_token_ids, render_generation_prompt, trajectory_messages
from mrlm_hf.envs import TextEnv, make_env, register_env
from mrlm_hf.policies import TransformersPolicy, _cut_at
from mrlm_hf.rl import (
    EnvGRPOTrainer,
    EnvReward,
    MultiTurnRollout,
    env_prompt_dataset,
    environment_turn,
    environment_turn_ids,
)
from mrlm_hf.tiny import build_model

os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"

ENV_CASES = {
    "math": {"difficulty": 1},
    "gridworld": {"size": 4},
    "code": {},
    "tools": {},
    "debate": {},
}


class EchoEnv(TextEnv):
    """Rewards the length of each action it receives and records them; actions end at 'STOP'."""

    name = "echo"
    system_prompt = "Say something."
    stop_strings = ("STOP",)

    def __init__(self, max_turns: int = 3) -> None:
        super().__init__(max_turns=max_turns)
        self.received: list[str] = []

    def _reset(self, options):
        self.received = []
        return f"Task {self.rng.randint(0, 9)}", {}

    def _step(self, action):
        self.received.append(action)
        return f"You said {len(action)} characters.", float(len(action)), False, {"success": True}

    def expert_action(self) -> str:
        return "hello"


register_env("echo_test", EchoEnv, overwrite=True)


def scripted(tokenizer, rollout: MultiTurnRollout, actions=None, record=None):
    """A generate function that 'samples' the tokens of given actions (or each env's expert action) + end of turn."""

    def generate(contexts, max_new_tokens, envs):
        out = []
        for env in envs:
            text = actions(env) if actions else env.expert_action()
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [rollout.turn_end_id]
            out.append(ids[:max_new_tokens])
        if record is not None:
            record.append([list(ids) for ids in out])
        return out

    return generate


def expert_return(env_name: str, kwargs: dict, seed: int) -> float:
    env = make_env(env_name, **kwargs)
    env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(_cut_at(env.expert_action(), env.stop_strings))
        total, done = total + reward, terminated or truncated
    return total


def segments(ids, mask):
    """Contiguous runs of ids where mask == 1."""
    runs, current = [], []
    for token, m in zip(ids, mask):
        if m:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


@pytest.mark.parametrize("env_name", list(ENV_CASES))
def test_forwarded_return_equals_episode_return(env_name):
    kwargs = ENV_CASES[env_name]
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=100_000)
    rows = env_prompt_dataset(env_name, 3, seed=5, env_kwargs=kwargs).to_list()
    out = rollout.rollout(rows, scripted(tokenizer, rollout))
    expected = [expert_return(env_name, kwargs, 5 + i) for i in range(3)]
    assert out["episode_return"] == pytest.approx(expected)
    assert all(n >= 1 for n in out["num_turns"])
    # Single-turn reward (RLOO): the first step's reward for the expert's first action.
    env = make_env(env_name, **kwargs)
    firsts, completions = [], []
    for i in range(3):
        env.reset(seed=5 + i)
        action = env.expert_action()
        completions.append([{"role": "assistant", "content": action}])
        firsts.append(env.step(_cut_at(action, env.stop_strings))[1])
    rewards = EnvReward()(
        [r["prompt"] for r in rows],
        completions,
        seed=[r["seed"] for r in rows],
        env_name=[r["env_name"] for r in rows],
        env_kwargs=[r["env_kwargs"] for r in rows],
    )
    assert rewards == pytest.approx(firsts)


def wrong_then_expert(env):
    return "The answer is 100000." if env.turn == 0 else env.expert_action()


@pytest.mark.parametrize("template", list(TEMPLATE_SPECS))
def test_grpo_batch_masks_are_exact(template, tmp_path):
    """Through the trainer: trained tokens are exactly each sampled action + its end-of-turn token, the whole
    sequence is the template's rendering of the episode, and the loss mask is the env mask."""
    tokenizer = make_tokenizer(template)
    record: list = []
    rollout = MultiTurnRollout(tokenizer, max_completion_length=512)
    rollout.generate = scripted(tokenizer, rollout, wrong_then_expert, record)
    dataset = env_prompt_dataset("math", 2, env_kwargs={"difficulty": 1, "max_turns": 3})
    args = grpo_config(tmp_path, max_completion_length=512)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer, rollout=rollout)
    trainer.model.train()
    rows = [dataset[0], dataset[0], dataset[1], dataset[1]]
    batch = trainer._generate_and_score_completions(rows)
    eot = tokenizer.decode([rollout.turn_end_id])
    sampled_per_episode = [[turn[i] for turn in record] for i in range(4)]  # every episode plays 2 turns
    for i, row in enumerate(rows):
        length = int(batch["completion_mask"][i].sum())
        ids = batch["completion_ids"][i, :length].tolist()
        mask = batch["tool_mask"][i, :length].tolist()
        runs = segments(ids, mask)
        env = make_env("math", difficulty=1, max_turns=3)
        observation, _ = env.reset(seed=row["seed"])
        actions = ["The answer is 100000.", None]
        env.step(actions[0])
        actions[1] = env.expert_action()
        assert runs == sampled_per_episode[i]  # sampled ids == trained ids
        assert [tokenizer.decode(r) for r in runs] == [a + eot for a in actions]
        # The untrained tokens are the template's own rendering of the episode.
        prompt_ids = batch["prompt_ids"][i][batch["prompt_mask"][i].bool()].tolist()
        observations = [observation, "x"]
        env2 = make_env("math", difficulty=1, max_turns=3)
        env2.reset(seed=row["seed"])
        observations[1] = env2.step(actions[0])[0]
        messages = trajectory_messages(env.system_prompt, observations, actions)
        rendered = render_generation_prompt(tokenizer, messages[:-1])  # ... up to the second action's header
        text = tokenizer.decode(prompt_ids + ids)
        assert text == rendered + actions[1] + eot
    assert batch["advantages"].shape == (4,)


def test_sampled_ids_are_trained_ids_with_the_model(tmp_path, monkeypatch):
    """The tiny model really samples; every trained segment is exactly what generate_tokens returned."""
    tokenizer = make_tokenizer("chatml")
    recorded: list = []
    original = TransformersPolicy.generate_tokens

    def recording(self, prompts, **overrides):
        out = original(self, prompts, **overrides)
        recorded.append((overrides["max_new_tokens"], [list(x) for x in out]))
        return out

    monkeypatch.setattr(TransformersPolicy, "generate_tokens", recording)
    dataset = env_prompt_dataset("math", 2, env_kwargs={"difficulty": 1, "max_turns": 2})
    args = grpo_config(tmp_path, max_turn_tokens=12)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer)
    trainer.model.train()
    rows = [dataset[0], dataset[0], dataset[1], dataset[1]]
    batch = trainer._generate_and_score_completions(rows)
    assert recorded and all(budget <= 12 for budget, _ in recorded)
    # Episodes run in lockstep: turn t of every still-running episode is in call t, in row order.
    running = list(range(4))
    per_episode = {i: [] for i in range(4)}
    for _, outputs in recorded:
        assert len(outputs) == len(running)
        for i, ids in zip(running, outputs):
            per_episode[i].append(ids[:12])
        running = [i for i in running if len(per_episode[i]) < _turns(batch, i)]
    for i in range(4):
        length = int(batch["completion_mask"][i].sum())
        ids = batch["completion_ids"][i, :length].tolist()
        mask = batch["tool_mask"][i, :length].tolist()
        trained = [t for t, m in zip(ids, mask) if m]
        assert trained == [t for turn in per_episode[i] for t in turn]
        assert length <= 64


def _turns(batch, i):
    length = int(batch["completion_mask"][i].sum())
    return len(segments(batch["completion_ids"][i, :length].tolist(), batch["tool_mask"][i, :length].tolist()))


def test_stop_string_cut_and_length_budget():
    """An action is cut after the token that completes a stop string and closed with the end-of-turn token; the env
    receives exactly the trained text; the completion never exceeds max_completion_length."""
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer, max_completion_length=60)
    record: list = []
    generate = scripted(tokenizer, rollout, lambda env: "abc STOP and more text that is dropped", record)
    rows = env_prompt_dataset("echo_test", 2).to_list()
    out = rollout.rollout(rows, generate)
    eot = tokenizer.decode([rollout.turn_end_id])
    env = rollout.pool.free[("echo_test", "{}")][0]
    for i in range(2):
        ids, mask = out["completion_ids"][i], out["env_mask"][i]
        assert len(ids) == len(mask) <= 60
        runs = segments(ids, mask)
        decoded = [tokenizer.decode(r) for r in runs]
        assert decoded[0] == "abc STOP" + eot
        sampled = record[0][i]
        assert runs[0][:-1] == sampled[: len(runs[0]) - 1]  # kept sampled ids, then the appended end of turn
        assert runs[0][-1] == rollout.turn_end_id
    assert env.received[0] == "abc STOP"
    assert out["episode_return"][0] == pytest.approx(sum(len(a) for a in env.received))
    # The budget ends the episode before max_turns (3 turns would not fit in 60 tokens).
    assert out["num_turns"][0] < 3
    # A tighter budget cuts the action itself: no end-of-turn token, the episode ends there.
    rollout.max_completion_length = 2
    out = rollout.rollout(rows[:1], generate)
    assert out["completion_ids"][0] == record[-1][0][:2] and out["env_mask"][0] == [1, 1]


def test_environment_turn_is_the_template_delta():
    tokenizer = make_tokenizer("llama3")
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "o0"},
        {"role": "assistant", "content": "a0"},
        {"role": "user", "content": "o1"},
    ]
    ids = environment_turn_ids(tokenizer, messages, "<|eot_id|>")
    assert tokenizer.decode(ids) == "<|start_header_id|>user<|end_header_id|>\n\no1<|eot_id|>" + (
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


@pytest.mark.parametrize("template", list(TEMPLATE_SPECS))
def test_one_rendering_turn_equals_the_located_turn(template):
    """The fast path (the new prompt starts with the previous prompt and the action) gives the same ids as locating
    the action in three renderings, turn after turn, with awkward actions; it is taken where the template allows."""
    tokenizer = make_tokenizer(template)
    observations = ["o0", "  o1 indented\n", "", "o3\n\n"]
    actions = ["up", " spaced ", "", "line\n  two"]
    generated_end = tokenizer.decode(end_of_turn_token_ids(tokenizer)[-1:])
    previous = render_generation_prompt(tokenizer, trajectory_messages("S", observations[:1], []))
    fast_turns = 0
    for k in range(1, len(observations)):
        messages = trajectory_messages("S", observations[: k + 1], actions[:k])
        reference = environment_turn_ids(tokenizer, messages, generated_end)
        ids, prompt = environment_turn(tokenizer, messages, generated_end, previous)
        assert ids == reference
        assert prompt == render_generation_prompt(tokenizer, messages)
        fast_turns += prompt.startswith(previous + actions[k - 1])
        previous = prompt
    assert fast_turns >= 1


def test_sft_weight_adds_the_behavioral_cloning_term(tmp_path):
    from mrlm_hf import ExpertPolicy, collect_trajectories

    tokenizer = make_tokenizer("chatml")
    demos = collect_trajectories("math", ExpertPolicy(), 8, env_kwargs={"difficulty": 1}, progress=False)
    dataset = env_prompt_dataset("math", 2, env_kwargs={"difficulty": 1, "max_turns": 1})
    args = grpo_config(tmp_path, max_completion_length=8, sft_weight=2.0)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer, sft_dataset=demos)
    trainer.model.train()
    inputs = trainer._generate_and_score_completions([dataset[0], dataset[0], dataset[1], dataset[1]])
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    torch.manual_seed(0)
    batch = next(trainer._demonstration_batches(demos))
    trainer._sft_batches = iter([batch])
    with_sft = trainer.compute_loss(trainer.model, inputs)
    trainer._sft_batches = None
    without = trainer.compute_loss(trainer.model, inputs)
    nll = trainer.model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
    assert (batch["labels"] != -100).sum() > 0
    assert with_sft.item() == pytest.approx(without.item() + 2.0 * nll.item(), rel=1e-4)
    # Only action tokens (and their end of turn) are labelled, exactly as in TrajectorySFTTrainer.
    labelled = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert tokenizer.decode(labelled).endswith("<|im_end|>")


def test_rows_without_seed_are_refused():
    tokenizer = make_tokenizer("chatml")
    rollout = MultiTurnRollout(tokenizer)
    with pytest.raises(ValueError, match="Row 1 .* 'seed'"):
        rollout.rollout([{"seed": 0, "env_name": "math"}, {"env_name": "math"}], lambda c, n, e: [[]] * len(c))
