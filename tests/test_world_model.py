"""Tests of world-model uses: branch data, the learned simulator, lookahead planning, hindsight relabeling, mixtures."""

from __future__ import annotations

import json
import math
import random
import zlib

import pytest
from conftest import make_tokenizer, make_trainer, toy_rows
from datasets import concatenate_datasets

from mrlm_hf.branches import collect_branches, restore_state
from mrlm_hf.chat import trajectory_messages
from mrlm_hf.data import TRANSITION_FEATURES, to_transitions, trajectories_from_rows, validate_trajectories
from mrlm_hf.envs import make_env
from mrlm_hf.envs.gridworld import ACTIONS, GridWorldEnv, transition
from mrlm_hf.mixtures import evaluate_per_environment, mix_trajectories, stats_per_environment
from mrlm_hf.outcomes import gridworld_outcome, parse_grid_observation
from mrlm_hf.planning import LookaheadPolicy, gridworld_value
from mrlm_hf.policies import ExpertPolicy, RandomPolicy
from mrlm_hf.preferences import replay
from mrlm_hf.relabel import hindsight_relabel
from mrlm_hf.rollout import collect_trajectories
from mrlm_hf.simulator import WorldModelEnv
from mrlm_hf.tokenize import tokenize_trajectories

GRID = {"size": 5, "difficulty": 2, "max_turns": 12}


class ExactGridPredictor:
    """A stub world model that is exact: it reads the state from the last observation and applies the true
    dynamics (gridworld observations encode the whole state)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conversations: list[list[dict[str, str]]]) -> list[str]:
        self.calls += len(conversations)
        out = []
        for messages in conversations:
            observation = [m["content"] for m in messages if m["role"] == "user"][-1]
            state = parse_grid_observation(observation)
            out.append(transition(state, messages[-1]["content"]).observation)
        return out


def expert_data(n: int = 6, **kwargs) -> object:
    return collect_trajectories("gridworld", ExpertPolicy(), n, env_kwargs={**GRID, **kwargs}, progress=False)


# ------------------------------------------------------------------------------------------------ branch data
@pytest.mark.parametrize("env_name,kwargs", [("gridworld", GRID), ("math", {}), ("tools", {})])
def test_a_replayed_state_equals_the_original(env_name: str, kwargs: dict) -> None:
    data = collect_trajectories(env_name, RandomPolicy(3), 4, env_kwargs=kwargs, progress=False)
    for row in data:
        env = make_env(env_name, **kwargs)
        for step in range(len(row["actions"])):
            observations, *_ = replay(env, row["seed"], row["actions"][:step])
            assert observations == row["observations"][: step + 1]
            if env_name == "gridworld" and step:  # the whole state, not only its text
                twin = make_env(env_name, **kwargs)
                replay(twin, row["seed"], row["actions"][:step])
                assert twin.get_state() == env.get_state()


def test_restore_state_refuses_a_history_the_environment_does_not_reproduce() -> None:
    row = expert_data(1)[0]
    env = GridWorldEnv(**GRID)
    with pytest.raises(RuntimeError, match="not deterministic"):
        restore_state(env, row["seed"], ["not the grid", *row["observations"][1:2]], row["actions"][:1])


def test_branch_rows_are_true_transitions_that_validate_and_tokenize() -> None:
    data = expert_data(6)
    branches = collect_branches(data, RandomPolicy(0), k=3)
    assert branches.features == TRANSITION_FEATURES
    counts = validate_trajectories(branches)
    states = sum(len(a) for a in data["actions"])
    assert states < counts.rows <= 3 * states
    by_seed = {row["seed"]: row for row in data}
    for row in branches:
        source = by_seed[row["seed"]]
        step = row["step"]
        assert row["observations"] == source["observations"][: step + 1]
        assert row["actions"] == source["actions"][:step]
        assert row["action"] != source["actions"][step]  # distinct: the expert's own action is not a branch
        state = parse_grid_observation(row["observations"][-1])
        truth = transition(state, row["action"])
        assert row["next_observation"] == truth.observation
        assert row["reward"] == pytest.approx(truth.reward)
        assert row["terminated"] == truth.terminated
    tokenized, dropped = tokenize_trajectories(branches, make_tokenizer(), "world_model", 1024, "transition")
    assert dropped == 0 and len(tokenized) == len(branches)
    mixed = concatenate_datasets([to_transitions(data), branches])
    assert validate_trajectories(mixed).rows == len(branches) + states


@pytest.mark.parametrize("env_name", ["math", "debate"])
def test_branches_in_other_environments_replay_to_the_same_next_observation(env_name: str) -> None:
    data = collect_trajectories(env_name, ExpertPolicy(), 2, progress=False)
    branches = collect_branches(data, RandomPolicy(0), k=2)
    assert len(branches) > 0 and set(branches["agent_id"]) == {"agent_0"}  # the other debater is not branched
    env = make_env(env_name)
    for row in branches:
        observations, *_ = replay(env, row["seed"], [*row["actions"], row["action"]])
        assert observations[-1] == row["next_observation"]


def test_the_world_model_trainer_takes_branch_rows_directly(tmp_path) -> None:
    branches = collect_branches(expert_data(2), RandomPolicy(0), k=1, steps=[0])
    trainer = make_trainer(tmp_path, branches, mode="world_model", max_steps=1)
    assert len(trainer.train_dataset) == len(branches)
    trainer.train()
    assert trainer.state.global_step == 1


def test_model_predictor_drives_the_simulator_and_counts_its_calls() -> None:
    from mrlm_hf.simulator import ModelPredictor
    from mrlm_hf.tiny import build_model

    tokenizer = make_tokenizer()
    predictor = ModelPredictor(
        build_model(tokenizer, hidden_size=32, intermediate_size=64), tokenizer, max_new_tokens=4
    )
    envs = [WorldModelEnv("gridworld", predictor, env_kwargs=GRID) for _ in range(3)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    results = WorldModelEnv.step_batch(envs, ["up", "left", "down"])
    assert predictor.calls == 3
    for observation, reward, terminated, _, info in results:
        assert isinstance(observation, str) and info["simulated"]
        assert (reward, terminated) == gridworld_outcome(observation, GRID)[:2]


def test_model_predictor_takes_the_rollout_decoder() -> None:
    from mrlm_hf.simulator import ModelPredictor
    from mrlm_hf.tiny import build_model

    tokenizer = make_tokenizer()
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    predictor = ModelPredictor(model, tokenizer, decoder="static", max_cache_len=512)
    assert (predictor.generator.decoder, predictor.generator.max_cache_len) == ("static", 512)
    with pytest.raises(ValueError, match="decoder must be"):
        ModelPredictor(model, tokenizer, decoder="vllm")


def test_branches_at_chosen_steps_only_and_k_samples_per_state() -> None:
    data = expert_data(4)
    branches = collect_branches(data, RandomPolicy(1), k=2, steps=[0], distinct=False)
    assert set(branches["step"]) == {0}
    assert len(branches) == 2 * len(data)


class ScriptedPolicy:
    """A deterministic policy for exact comparisons: ``ACTIONS[(crc32(conversation) + n) % 4]``, with ``n`` the
    number of times the conversation was asked before when ``vary`` (the ``k`` copies of a state then get different
    actions; the answers do not depend on the batching as long as no two branches share a history), else 0.
    ``calls`` counts the calls, ``asked`` the conversations."""

    def __init__(self, vary: bool = True) -> None:
        self.vary, self.calls, self.asked, self.times = vary, 0, 0, {}

    def __call__(self, conversations: list[list[dict[str, str]]], envs: object = None) -> list[str]:
        self.calls += 1
        self.asked += len(conversations)
        out = []
        for messages in conversations:
            key = json.dumps(messages)
            n = self.times[key] = self.times.get(key, -1) + 1 if self.vary else 0
            out.append(ACTIONS[(zlib.crc32(key.encode()) + n) % len(ACTIONS)])
        return out


def one_call_per_branch_and_step(data, policy, k: int, depth: int, distinct: bool) -> list[dict]:
    """The unbatched algorithm, as a reference: per state, the ``k`` alternatives, then each kept one played out
    for up to ``depth`` steps with one policy call per step, rows by state, alternative and level."""
    rows = []
    for row in data:
        env = make_env(row["env_name"], **json.loads(row["env_kwargs"]))
        for step in range(len(row["actions"])):
            if str(env.reset(seed=row["seed"])[1].get("agent_id", "agent_0")) != row["agent_id"]:
                continue
            prefix = row["observations"][: step + 1], row["actions"][:step]
            alternatives = policy([trajectory_messages(row["system_prompt"], *prefix)] * k, [env] * k)
            seen = {row["actions"][step].strip()} if distinct else set()
            for move in alternatives:
                if distinct and move.strip() in seen:
                    continue
                seen.add(move.strip())
                replay(env, row["seed"], row["actions"][:step])
                observations, actions = list(prefix[0]), list(prefix[1])
                for level in range(depth):
                    if level:
                        if env.done:
                            break
                        move = policy([trajectory_messages(row["system_prompt"], observations, actions)], [env])[0]
                    observation, reward, terminated, truncated, _ = env.step(move)
                    rows.append(
                        {
                            "seed": row["seed"],
                            "agent_id": row["agent_id"],
                            "step": len(actions),
                            "observations": observations,
                            "actions": actions,
                            "action": move,
                            "next_observation": observation,
                            "reward": pytest.approx(reward),  # stored as float32
                            "terminated": terminated,
                            "truncated": truncated,
                        }
                    )
                    observations, actions = [*observations, observation], [*actions, move]
    return rows


def branch_test_data():
    """Gridworld expert episodes in two configurations (two pools of environments) and a debate (two agents)."""
    debate = collect_trajectories("debate", ExpertPolicy(), 1, progress=False)
    return concatenate_datasets([expert_data(3), expert_data(2, max_turns=5), debate])


@pytest.mark.parametrize("distinct", [True, False])
def test_batched_branches_are_the_rows_of_one_call_per_branch_and_step(distinct: bool) -> None:
    """Without ``distinct`` the policy is a function of the conversation alone: the ``k`` alternatives are equal,
    so every state has ``k`` equal branches (which share their histories)."""
    data = branch_test_data()
    branches = collect_branches(data, ScriptedPolicy(distinct), k=3, depth=4, distinct=distinct, batch_states=4)
    expected = one_call_per_branch_and_step(data, ScriptedPolicy(distinct), 3, 4, distinct)
    got = [{name: row[name] for name in expected[0]} for row in branches]
    assert got == expected
    assert branches.features == TRANSITION_FEATURES
    assert any(row["done"] for row in branches)
    assert "agent_1" not in branches["agent_id"]


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_branches_call_the_policy_once_per_level_and_chunk(depth: int, monkeypatch) -> None:
    """At most one call for the alternatives and one per further level in each chunk of states, every further step
    asked once; the environment instances (one per branch of a chunk) are reused by the next chunks."""
    import mrlm_hf.branches

    data = branch_test_data()
    built = []
    monkeypatch.setattr(mrlm_hf.branches, "make_env", lambda name, **kw: built.append(name) or make_env(name, **kw))
    policy = ScriptedPolicy()
    branches = collect_branches(data, policy, k=3, depth=depth, batch_states=4)
    assert len(built) <= 3 * 4 * 3  # at most k instances per state of a chunk, in each of the three pools
    chunks = -(-sum(len(actions) for actions in data["actions"]) // 4)
    states = sum(len(row["actions"]) for row in data if row["agent_id"] == "agent_0")
    assert chunks > 1 and policy.calls <= chunks * depth
    first_steps = collect_branches(data, ScriptedPolicy(), k=3, depth=1, batch_states=4)
    assert policy.asked == 3 * states + len(branches) - len(first_steps)  # each further step asked once


# ------------------------------------------------------------------------------------------------ the simulator
def test_gridworld_parser_reads_every_state_and_the_outcome_rule_matches_the_environment() -> None:
    env = GridWorldEnv(size=5, difficulty=3)
    rng = random.Random(0)
    for seed in range(20):
        observation, _ = env.reset(seed=seed)
        assert parse_grid_observation(observation) == env.state
        for _ in range(15):
            observation, reward, terminated, _, info = env.step(rng.choice([*ACTIONS, "fly"]))
            parsed = parse_grid_observation(observation)
            assert parsed == env.state
            assert gridworld_outcome(observation, env.config) == (reward, terminated, info["success"])
            if terminated:
                break
    assert parse_grid_observation("hello") is None
    assert parse_grid_observation(".G\n@.\nMoved up. At (0,0).") is None  # position disagrees with the grid


def test_simulator_with_an_exact_model_reproduces_the_real_trajectories() -> None:
    small = {"size": 4, "difficulty": 1, "max_turns": 10}  # small enough that random walks sometimes succeed
    real = collect_trajectories("gridworld", RandomPolicy(5), 16, env_kwargs=small, progress=False)
    predictor = ExactGridPredictor()
    simulated = collect_trajectories(
        lambda: WorldModelEnv("gridworld", predictor, env_kwargs=small), RandomPolicy(5), 16, progress=False
    )
    for column in ("seed", "observations", "actions", "rewards", "terminated", "truncated", "success", "system_prompt"):
        assert simulated[column] == real[column], column
    assert any(real["truncated"]) and any(real["terminated"])  # both endings were exercised
    assert predictor.calls == sum(real["length"])


def test_simulator_env_api_contract() -> None:
    predictor = ExactGridPredictor()
    env = WorldModelEnv("gridworld", predictor, env_kwargs={**GRID, "max_turns": 3}, max_turns=2)
    assert env.max_turns == 2 and env.name == "world_model(gridworld)"
    observation, info = env.reset(seed=7)
    assert isinstance(observation, str) and isinstance(info, dict) and info["simulated"]
    assert observation == GridWorldEnv(**GRID).reset(seed=7)[0]
    result = env.step("fly")
    assert len(result) == 5 and result[1:4] == (-0.01, False, False) and "Invalid action" in result[0]
    *_, terminated, truncated, info = env.step("fly")
    assert (terminated, truncated, info["success"]) == (False, True, False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step("up")
    with pytest.raises(NotImplementedError):
        env.expert_action()


def test_step_batch_makes_one_predictor_call_for_all_environments() -> None:
    calls = []

    def predictor(conversations):
        calls.append(len(conversations))
        return ExactGridPredictor()(conversations)

    envs = [WorldModelEnv("gridworld", predictor, env_kwargs=GRID) for _ in range(4)]
    reals = [GridWorldEnv(**GRID) for _ in range(4)]
    for i, (env, real) in enumerate(zip(envs, reals)):
        env.reset(seed=i)
        real.reset(seed=i)
    results = WorldModelEnv.step_batch(envs, ["up", "down", "left", "right"])
    assert calls == [4]
    for result, real, action in zip(results, reals, ["up", "down", "left", "right"]):
        assert result[:4] == real.step(action)[:4]


# ------------------------------------------------------------------------------------------------ lookahead
def test_lookahead_picks_the_highest_scoring_candidate() -> None:
    predictor = ExactGridPredictor()
    policy = LookaheadPolicy(predictor, candidates=ACTIONS, outcome=gridworld_outcome, value=gridworld_value)
    env = GridWorldEnv(**GRID)
    for seed in range(30):
        observation, _ = env.reset(seed=seed)
        messages = trajectory_messages(env.system_prompt, [observation], [])
        (chosen,) = policy([messages], [env])
        scores = {}
        for action in ACTIONS:
            result = transition(env.state, action)
            scores[action] = result.reward + (0.0 if result.terminated else gridworld_value(result.observation))
        assert scores[chosen] == max(scores.values())
        assert chosen == next(a for a in ACTIONS if scores[a] == max(scores.values()))  # ties: first candidate
    assert policy.calls_per_action() == len(ACTIONS)


def test_lookahead_with_an_exact_model_solves_gridworld_where_its_proposal_does_not() -> None:
    lookahead = LookaheadPolicy(
        ExactGridPredictor(), proposal=RandomPolicy(0), k=8, outcome=gridworld_outcome, value=gridworld_value
    )
    planned = collect_trajectories("gridworld", lookahead, 20, env_kwargs=GRID, seed=500, progress=False)
    alone = collect_trajectories("gridworld", RandomPolicy(0), 20, env_kwargs=GRID, seed=500, progress=False)
    # A random proposal sometimes misses the best move among its 8 samples; the exact model still finds the goal
    # almost always, where the proposal alone rarely does.
    assert sum(planned["success"]) >= 18 and sum(alone["success"]) <= 5
    assert lookahead.proposal_calls == 8 * lookahead.actions_taken
    assert 8 < lookahead.calls_per_action() <= 12  # 8 proposals + at most 4 distinct moves simulated


def test_deeper_lookahead_counts_imagined_steps() -> None:
    lookahead = LookaheadPolicy(
        ExactGridPredictor(), proposal=ExpertPolicy(), k=1, depth=3, outcome=gridworld_outcome, value=gridworld_value
    )
    env = GridWorldEnv(**GRID)
    observation, _ = env.reset(seed=3)
    lookahead([trajectory_messages(env.system_prompt, [observation], [])], [env])
    assert lookahead.predictor_calls >= 1 and lookahead.proposal_calls >= 2


# ------------------------------------------------------------------------------------------------ hindsight
def test_relabeled_failures_are_successes_by_the_environments_own_check() -> None:
    failed = collect_trajectories("gridworld", RandomPolicy(2), 30, env_kwargs=GRID, progress=False)
    failed = failed.filter(lambda s: not s, input_columns="success")
    relabeled = hindsight_relabel(failed)
    assert len(relabeled) >= len(failed) // 2
    for row in relabeled:
        meta = json.loads(row["metadata"])["hindsight"]
        source = failed[meta["source_row"]]
        assert row["success"] and row["terminated"] and row["rewards"][-1] == 1.0
        assert row["actions"] == source["actions"][: len(row["actions"])]
        env = GridWorldEnv(**json.loads(row["env_kwargs"]))
        observation, _ = env.reset(seed=row["seed"], options={"state": meta["initial_state"]})
        assert observation == row["observations"][0] and "G" in observation
        for action in row["actions"]:
            *_, terminated, _, info = env.step(action)
        assert terminated and info["success"]  # the environment confirms it
        assert list(env.state.agent) == meta["initial_state"]["goal"] != meta["original_goal"]


def test_relabeling_refuses_other_environments() -> None:
    rows = trajectories_from_rows(toy_rows(2))
    with pytest.raises(ValueError, match="row 0.*env_name"):
        hindsight_relabel(rows)


# ------------------------------------------------------------------------------------------------ mixtures
def test_mixture_weights_are_respected_within_sampling_error() -> None:
    a = trajectories_from_rows([{**r, "env_name": "a"} for r in toy_rows(400, seed=1)])
    b = trajectories_from_rows([{**r, "env_name": "b"} for r in toy_rows(400, seed=2)])
    mixed = mix_trajectories({"a": a, "b": b}, {"a": 3.0, "b": 1.0}, seed=0, stopping_strategy="first_exhausted")
    n = len(mixed)
    share = mixed["env_name"].count("a") / n
    bound = 4 * math.sqrt(0.75 * 0.25 / n)  # four binomial standard deviations
    assert abs(share - 0.75) < bound, (share, n)
    assert mixed.features == a.features
    stats = stats_per_environment(mixed)
    assert set(stats) == {"a", "b"} and stats["a"]["num_trajectories"] == mixed["env_name"].count("a")


def test_evaluation_reports_success_per_environment() -> None:
    stats = evaluate_per_environment(ExpertPolicy(), {"gridworld": GRID, "math": {}}, episodes=3, progress=False)
    assert set(stats) == {"gridworld", "math"}
    assert all(s["num_trajectories"] == 3 and s["success_rate"] == 1.0 for s in stats.values())
    assert stats["math"]["mean_length"] == 1.0 < stats["gridworld"]["mean_length"]  # each in its own environment


def test_mixture_refuses_bad_weights() -> None:
    a = trajectories_from_rows(toy_rows(3))
    with pytest.raises(ValueError, match="one weight per dataset"):
        mix_trajectories({"a": a}, {"b": 1.0})
    with pytest.raises(ValueError, match=r"weights\['a'\]"):
        mix_trajectories({"a": a}, {"a": -1.0})
    with pytest.raises(ValueError, match="All mixing weights are 0"):
        mix_trajectories({"a": a}, {"a": 0.0})


@pytest.mark.slow
def test_lookahead_beats_the_same_policy_alone_and_the_wm_phase_comparison_runs(tmp_path) -> None:
    """``examples/world_model.py lookahead`` at its default settings (gridworld with walls; on the GPU when there is
    one, else hours on a CPU). Asserts issue 17's target, shown on an H200 at these settings (83.6% against 72.7%,
    bench/RESULTS.md): lookahead with the BC model as proposal beats that model alone, and the same sampled proposal
    without the world model, on the same held-out episodes, at a counted cost. The world-model-phase-then-BC arms
    are measured at the same total steps (+3.2 points on average over three seeds); no direction asserted."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch

    script = Path(__file__).resolve().parents[1] / "examples" / "world_model.py"
    flags = ["--accelerator"] if torch.cuda.is_available() else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(script), "lookahead", "--output_dir", str(tmp_path), *flags]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=4 * 3600)
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads((tmp_path / "lookahead.json").read_text())
    alone, planned = record["policy_alone"], record["lookahead"]
    episodes = record["settings"]["eval_episodes"]
    assert alone["num_trajectories"] == planned["num_trajectories"] == episodes
    # Better than the greedy policy and than the same sampled proposal acting without the world model.
    assert planned["success_rate"] > max(alone["success_rate"], record["proposal_alone"]["success_rate"])
    assert alone["model_calls_per_action"] == 1.0 < planned["model_calls_per_action"] <= 2 * record["settings"]["k"]
    for arm in ("wm_then_bc", "sequential_schedule"):
        assert record[arm]["num_trajectories"] == episodes and 0.0 <= record[arm]["success_rate"] <= 1.0
