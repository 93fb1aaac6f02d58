"""Tests of the deterministic grid world (``gridworld``)."""

from __future__ import annotations

import json
import random

import pytest

from mrlm_hf.envs import make_env
from mrlm_hf.envs.gridworld import (
    ACTIONS,
    INVALID_MESSAGE,
    GridState,
    GridWorldEnv,
    parse_move,
    render_observation,
    shortest_path,
    transition,
)


def run_expert(env: GridWorldEnv, seed: int) -> tuple[bool, int, float]:
    env.reset(seed=seed)
    steps, total = 0, 0.0
    while True:
        _, reward, terminated, truncated, info = env.step(env.expert_action())
        steps, total = steps + 1, total + reward
        if terminated or truncated:
            return info["success"], steps, total


@pytest.mark.parametrize("size,difficulty", [(5, 0), (5, 1), (5, 2), (5, 3), (3, 3), (8, 2)])
def test_expert_solves_every_layout_along_a_shortest_path(size: int, difficulty: int) -> None:
    env = make_env("gridworld", size=size, difficulty=difficulty)
    for seed in range(100):
        env.reset(seed=seed)
        optimal = len(shortest_path(env.state))
        success, steps, total = run_expert(env, seed)
        assert success, (size, difficulty, seed)
        assert steps == optimal
        assert total == pytest.approx(1.0 - 0.01 * (steps - 1))


def test_layouts_are_solvable_and_well_formed_over_many_seeds() -> None:
    for difficulty in range(4):
        env = GridWorldEnv(size=5, difficulty=difficulty)
        wall_counts = []
        for seed in range(300):
            obs, info = env.reset(seed=seed)
            state = env.state
            assert shortest_path(state) is not None
            assert state.agent != state.goal and state.agent not in state.walls and state.goal not in state.walls
            grid = obs.split("\n")[:5]
            assert all(len(row) == 5 for row in grid)
            assert "".join(grid).count("@") == 1 and "".join(grid).count("G") == 1
            assert ("k" in obs and "D" in obs) == (difficulty == 3)
            wall_counts.append(len(state.walls))
        if difficulty == 0:
            assert max(wall_counts) == 0
        else:
            assert min(wall_counts) > 0


def test_key_and_door_are_required_at_difficulty_3() -> None:
    env = GridWorldEnv(size=5, difficulty=3)
    for seed in range(50):
        env.reset(seed=seed)
        state = env.state
        # Without the door, or with the door turned into a wall, the goal is out of reach.
        blocked = GridState(state.size, state.agent, state.goal, state.walls | {state.door})
        assert shortest_path(blocked) is None
        path = shortest_path(state)
        events = []
        for move in path:
            result = transition(state, move)
            events.append(result.event)
            state = result.state
        assert events.index("key") < events.index("door_opened") < events.index("goal")


def test_same_state_and_action_give_the_same_observation() -> None:
    env = GridWorldEnv(size=5, difficulty=3)
    rng = random.Random(0)
    for seed in range(30):
        env.reset(seed=seed)
        for _ in range(15):
            snapshot = env.get_state()
            action = rng.choice([*ACTIONS, "jump", "Move Left."])
            expected = transition(GridState.from_dict(snapshot), action)
            obs, reward, terminated, _, _ = env.step(action)
            assert (obs, reward, terminated) == (expected.observation, expected.reward, expected.terminated)
            # Replaying the action from the restored state reproduces the observation exactly.
            env.set_state(snapshot)
            env.done = False
            assert env.step(action)[0] == obs
            if terminated or env.done:
                break
        # A copy of the state is equal (hashable, round-trips through JSON) and transition is pure.
        state = GridState.from_dict(json.loads(json.dumps(env.get_state())))
        assert state == env.state
        assert transition(state, "up") == transition(state, "up")


def test_reproducible_by_seed_and_varies_across_seeds() -> None:
    a, b = GridWorldEnv(size=6, difficulty=2), make_env("gridworld", size=6, difficulty=2)
    observations = set()
    for seed in range(20):
        obs_a, info_a = a.reset(seed=seed)
        obs_b, info_b = b.reset(seed=seed)
        assert obs_a == obs_b and info_a["task_id"] == info_b["task_id"]
        for move in ["up", "left", "down", "right", "down"]:
            assert a.step(move)[:3] == b.step(move)[:3]
        observations.add(obs_a)
    assert len(observations) >= 18


def test_walls_and_edges_block_moves() -> None:
    state = GridState(size=3, agent=(0, 0), goal=(2, 2), walls=frozenset({(0, 1)}))
    result = transition(state, "right")
    assert result.state == state and result.event == "wall" and result.reward == pytest.approx(-0.01)
    assert result.observation == "@#.\n...\n..G\nYou hit a wall. At (0,0)."
    for move in ("up", "left"):  # the edge of the grid is a wall too
        assert transition(state, move).event == "wall" and transition(state, move).state == state
    moved = transition(state, "down")
    assert moved.state.agent == (1, 0) and moved.observation == ".#.\n@..\n..G\nMoved down. At (1,0)."


def test_door_is_locked_without_key() -> None:
    state = GridState(size=3, agent=(0, 0), goal=(2, 2), door=(0, 1), key=(1, 0))
    locked = transition(state, "right")
    assert locked.event == "door_locked" and locked.state == state
    with_key = transition(state, "down").state
    assert with_key.has_key and with_key.key is None
    assert transition(with_key, "down").observation.endswith("Have key.")
    opened = transition(transition(with_key, "up").state, "right")
    assert opened.event == "door_opened" and opened.state.door is None and opened.state.agent == (0, 1)


def test_invalid_actions_leave_the_grid_unchanged() -> None:
    env = GridWorldEnv(size=5, difficulty=1)
    obs0, _ = env.reset(seed=3)
    grid0 = obs0.rsplit("\n", 1)[0]
    for action in ["", "jump", "north", "upp", None, b"\xff\xfe", "x" * 100_000, 42, "up down"]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs.rsplit("\n", 1)[0] == grid0
        assert INVALID_MESSAGE in obs
        assert reward == pytest.approx(-0.01) and not terminated and not truncated
        assert info["error"] == "invalid_action" and info["parsed_action"] is None
    assert parse_move("  UP  ") == parse_move("move up") == parse_move("Go Up.") == "up"
    assert parse_move("right\n") == "right"
    assert parse_move("upwards") is None


def test_turn_limit_truncates_and_step_costs_cannot_be_farmed() -> None:
    env = GridWorldEnv(size=4, difficulty=0, max_turns=5)
    env.reset(seed=1)
    total = 0.0
    for turn in range(1, 6):
        _, reward, terminated, truncated, info = env.step("jump")
        total += reward
        assert not terminated and truncated == (turn == 5) and info["turn"] == turn
    assert total < 0
    with pytest.raises(RuntimeError):
        env.step("up")
    assert GridWorldEnv(size=5).max_turns == 50


def test_config_recreates_env_and_info_is_json() -> None:
    env = GridWorldEnv(size=6, difficulty=3, step_cost=0.02)
    clone = make_env("gridworld", **env.config)
    assert clone.config == env.config
    obs, info = env.reset(seed=5)
    assert clone.reset(seed=5)[0] == obs
    json.dumps(info)
    json.dumps(env.step(env.sample_action(random.Random(0)))[4])
    # Starting from a given state.
    start = GridState(size=6, agent=(0, 0), goal=(0, 2))
    obs, _ = env.reset(options={"state": start.to_dict()})
    assert obs == render_observation(start, "Reach G.")
    assert env.step("right")[0].endswith("Moved right. At (0,1).")
    assert env.step("right")[1:3] == (1.0, True)


def test_sample_action_is_a_random_direction() -> None:
    env = GridWorldEnv()
    env.reset(seed=0)
    rng = random.Random(0)
    assert {env.sample_action(rng) for _ in range(100)} == set(ACTIONS)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        GridWorldEnv(size=2)
    with pytest.raises(ValueError):
        GridWorldEnv(difficulty=7)
