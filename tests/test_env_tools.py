"""Tests of the tool-use environment (``tools``): parsing, tools, safety, rewards and the expert."""

from __future__ import annotations

import gc
import json
import os
import random
import time

import pytest

from mrlm_hf.envs import make_env
from mrlm_hf.envs.tools import (
    TOOL_NAMES,
    CalculatorError,
    ParseError,
    ToolUseEnv,
    Workspace,
    answers_match,
    parse_action,
    safe_eval,
)

NO_PYTHON = ["calculator", "memory", "file"]


def call(tool: str, **arguments: object) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


def run_expert(env: ToolUseEnv, seed: int, kind: str | None = None) -> tuple[dict, list[float], list[str]]:
    env.reset(seed=seed, options={"kind": kind} if kind else None)
    rewards, actions = [], []
    while True:
        action = env.expert_action()
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        actions.append(action)
        if terminated or truncated:
            return info, rewards, actions


# ---------------------------------------------------------------------------------------------------- expert
@pytest.mark.parametrize("difficulty", [1, 3, 5])
def test_expert_solves_at_least_95_percent_using_tools(difficulty: int) -> None:
    env = make_env("tools", difficulty=difficulty, tasks=NO_PYTHON)
    solved, kinds = 0, set()
    for seed in range(150):
        info, rewards, actions = run_expert(env, seed)
        solved += info["success"]
        kinds.add(info["task_kind"])
        tool_calls = [a for a in actions if '"tool"' in a]
        assert tool_calls, "the expert demonstrates tool use"
        assert rewards[-1] == 1.0 or not info["success"]
        assert sum(rewards) == pytest.approx(1.0 - 0.02 * len(tool_calls)) or not info["success"]
    env.close()
    assert solved / 150 >= 0.95
    assert kinds == set(NO_PYTHON)


def test_tasks_reproducible_by_seed_and_varied() -> None:
    a, b = ToolUseEnv(difficulty=2), make_env("tools", difficulty=2)
    first_observations = set()
    for seed in range(40):
        obs_a, info_a = a.reset(seed=seed)
        obs_b, info_b = b.reset(seed=seed)
        assert obs_a == obs_b and info_a == info_b
        assert a.expert_action() == b.expert_action()
        if info_a["task_kind"] == "file":  # same workspace contents
            assert a.workspace.files() == b.workspace.files()
        first_observations.add(obs_a)
    assert len(first_observations) >= 38
    clone = make_env("tools", **a.config)
    assert clone.config == a.config and clone.reset(seed=7)[0] == a.reset(seed=7)[0]
    for env in (a, b, clone):
        env.close()


def test_expert_trajectory_and_rewards_on_a_file_task() -> None:
    env = ToolUseEnv(difficulty=2, tasks=["file"])
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        if "sum" in obs:
            break
    path = obs.split("The file ")[1].split(" ")[0]
    numbers = [int(line) for line in env.workspace.read(path).split()]
    obs, reward, terminated, _, info = env.step(env.expert_action())
    assert info["parsed_action"] == {"tool": "files", "arguments": {"op": "read", "path": path}}
    assert [int(x) for x in obs.split("\n")[1:] if x] == numbers[1:] and reward == pytest.approx(-0.02)
    obs, reward, terminated, _, info = env.step(env.expert_action())
    assert info["parsed_action"]["tool"] == "calculator" and obs == f"calculator: {sum(numbers)}"
    obs, reward, terminated, _, info = env.step(env.expert_action())
    assert (reward, terminated, info["success"]) == (1.0, True, True)
    env.close()


# ---------------------------------------------------------------------------------------------------- answers
def test_wrong_answer_ends_with_zero_and_store_task_needs_memory() -> None:
    env = ToolUseEnv(tasks=["calculator"])
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step('{"answer": "-1"}')
    assert (reward, terminated, info["success"], info["error"]) == (0.0, True, False, "wrong_answer")

    env = ToolUseEnv(tasks=["memory"])
    for seed in range(50):
        obs, _ = env.reset(seed=seed)
        if obs.startswith("Save"):
            break
    value = obs.split("Save the value ")[1].split(" ")[0]
    assert env.step(f"Final answer: {value}")[1:3] == (0.0, True)  # right text, but never stored
    env.reset(seed=seed)
    env.step(env.expert_action())
    obs, reward, terminated, _, info = env.step(f"Final answer: {value}")
    assert (reward, terminated, info["success"]) == (1.0, True, True)


def test_answers_match_normalises_format_not_value() -> None:
    assert answers_match("1,234", "1234") and answers_match(" '42'. ", "42") and answers_match("42.0", "42")
    assert answers_match("abc12", "ABC12")
    assert not answers_match("1235", "1234") and not answers_match("", "0") and not answers_match("4 2", "42x")


# ---------------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"tool": "calculator", "arguments": {"expression": "1+1"}}', ("calculator", {"expression": "1+1"})),
        ('<tool_call>\n{"name": "memory", "arguments": {"op": "list"}}\n</tool_call>', ("memory", {"op": "list"})),
        ('<tool_call>{"name": "files", "arguments": "{\\"op\\": \\"list\\"}"}', ("files", {"op": "list"})),
        ('{"name": "Calculator", "parameters": {"expression": "2"}}', ("calculator", {"expression": "2"})),
        ('{"type": "function", "function": {"name": "python", "arguments": {"code": "1"}}}', ("python", {"code": "1"})),
        ('Let me check.\n```json\n{"tool": "memory", "arguments": {"op": "list"}}\n```', ("memory", {"op": "list"})),
    ],
)
def test_tool_call_formats_are_accepted(text: str, expected: tuple[str, dict]) -> None:
    assert parse_action(text) == {"tool": expected[0], "arguments": expected[1]}


def test_answer_formats_are_accepted() -> None:
    assert parse_action('{"answer": 42}') == {"answer": "42"}
    assert parse_action("I computed it. Final answer: 17") == {"answer": "17"}
    assert parse_action('```json\n{"answer": "x"}\n```') == {"answer": "x"}


@pytest.mark.parametrize(
    "text,kind",
    [
        ("", "empty"),
        ("the answer is probably 5", "no_action"),
        ('{"tool": "calculator", "arguments": {"expression": "1+1"}', "bad_json"),
        ('{"tool": "calculator", "arguments": [1, 2]}', "bad_call"),
        ('{"arguments": {}}', "bad_call"),
        ("[1, 2, 3]", "no_action"),
        ("{" * 20_000, "bad_json"),
        ('<tool_call>{"name": "calculator", "arguments": "{not json"}</tool_call>', "bad_json"),
    ],
)
def test_malformed_actions_raise_parse_errors(text: str, kind: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_action(text)
    assert excinfo.value.kind == kind


def test_malformed_actions_are_observations_with_a_small_penalty() -> None:
    env = ToolUseEnv(max_turns=20)
    env.reset(seed=0)
    for action in ["", "hello", '{"tool": "calc', None, b"\xff\xfe\x00", 12, "{" * 100_000, '{"tool": 3}']:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs.startswith("Invalid action") and '{"answer": "..."}' in obs and "calculator" in obs
        assert reward == pytest.approx(-0.05) and not terminated and not truncated
        assert info["error"] in {"empty", "no_action", "bad_json", "bad_call"} and info["parsed_action"] is None
        json.dumps(info)
    obs, reward, _, _, info = env.step(call("search", query="x"))
    assert info["error"] == "unknown_tool" and reward == pytest.approx(-0.05)
    assert all(name in obs for name in TOOL_NAMES)
    obs, _, _, _, info = env.step(call("calculator"))
    assert obs.startswith("calculator: error") and info["error"] == "tool_error"


def test_adversarial_actions_are_handled_quickly() -> None:
    """Inputs that make naive regexes or JSON parsing backtrack, recurse or overflow (20 kB each)."""
    cases = [
        "```" + " " * 19_990 + "x",
        "<tool_call>" * 1_800,
        "final answer: " * 1_400,
        "x " + '{"a":' * 3_300,
        '{"answer": ' + "[" * 19_000,
        '{"answer": ' + "1" * 5_000 + "}",
        "Final answer: " + "1" * 6_000,
        '{"tool": "memory", "arguments": {"op": "set", "key": "k", "value": ' + "9" * 5_000 + "}}",
    ]
    env = ToolUseEnv(max_turns=100)
    start = time.perf_counter()
    for action in cases:
        if env.done:
            env.reset(seed=0)
        obs, reward, _, _, info = env.step(action)
        assert isinstance(obs, str) and reward <= 0
        json.dumps(info)
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------------------------------------------- calculator
def test_calculator_is_exact_on_ordinary_arithmetic() -> None:
    assert safe_eval("48213 * 9127 - 3321") == 48213 * 9127 - 3321
    assert safe_eval("(2 + 3) * -4 ** 2 // 3 % 7") == (2 + 3) * -(4**2) // 3 % 7
    assert safe_eval("7 / 2") == 3.5 and safe_eval("2 ** -1") == 0.5 and safe_eval("2**64") == 2**64
    assert safe_eval("(" * 150 + "1" + ")" * 150) == 1  # redundant parentheses add no depth


@pytest.mark.parametrize(
    "expression",
    [
        "10**10**10",
        "2**65",
        "9**9**9",
        "(10**60)**60",
        "99999999999**64",
        "1" * 300,
        "1e308 * 10",
        "(" * 300 + "1" + ")" * 300,
        "-(" * 120 + "1" + ")" * 120,
        "-" * 400 + "1",
        "+".join(["1"] * 240),
        "x" * 1000,
        "__import__('os').system('echo hi')",
        "abs(-1)",
        "(1).real",
        "x",
        "[1, 2]",
        "'a' * 10",
        "lambda: 1",
        "True + 1",
        "1 if 1 else 2",
        "1 / 0",
        "5 % 0",
        "(-8) ** 0.5",
        "2 ^ 3",
        "",
        "1 +",
    ],
)
def test_calculator_refuses_unsafe_or_huge_expressions(expression: str) -> None:
    with pytest.raises(CalculatorError):
        safe_eval(expression)


def test_calculator_tool_reports_errors_as_observations() -> None:
    env = ToolUseEnv()
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(call("calculator", expression="10**10**10"))
    assert obs.startswith("calculator: error: exponent too large") and not terminated
    assert reward == pytest.approx(-0.02) and info["error"] == "tool_error"


# ---------------------------------------------------------------------------------------------------- memory
def test_memory_set_get_list_and_caps() -> None:
    env = ToolUseEnv(tasks=["calculator"], max_turns=200)
    env.reset(seed=0)
    assert env.step(call("memory", op="list"))[0] == "memory: memory is empty"
    assert env.step(call("memory", op="set", key="a", value="1"))[0] == "memory: stored 'a'"
    assert env.step(call("memory", op="set", key="b", value=5))[0] == "memory: stored 'b'"
    assert env.step(call("memory", op="get", key="b"))[0] == "memory: 5"
    assert env.step(call("memory", op="list"))[0] == "memory: keys: a, b"
    assert env.step(call("memory", op="get", key="zzz"))[4]["error"] == "tool_error"
    assert env.step(call("memory", op="set", key="c", value="v" * 5000))[4]["error"] == "tool_error"
    assert env.step(call("memory", op="delete", key="a"))[4]["error"] == "tool_error"
    for i in range(ToolUseEnv.MEMORY_MAX_KEYS):
        env.step(call("memory", op="set", key=f"k{i}", value="x"))
    assert len(env.memory) == ToolUseEnv.MEMORY_MAX_KEYS
    env.reset(seed=1)
    assert env.memory == {}


# ---------------------------------------------------------------------------------------------------- files
def test_workspace_read_write_list() -> None:
    env = ToolUseEnv(tasks=["calculator"])
    env.reset(seed=0)
    assert env.step(call("files", op="list"))[0] == "files: no files"
    assert (
        env.step(call("files", op="write", path="sub/a.txt", content="hello"))[0] == "files: wrote 5 bytes to sub/a.txt"
    )
    assert env.step(call("files", op="read", path="./sub/a.txt"))[0] == "files: hello"
    assert env.step(call("files", op="list"))[0] == "files: sub/a.txt (5 bytes)"
    big = "x" * (Workspace.MAX_FILE_BYTES + 1)
    assert env.step(call("files", op="write", path="big.txt", content=big))[4]["error"] == "tool_error"
    assert env.step(call("files", op="read", path="missing.txt"))[4]["error"] == "tool_error"
    assert env.step(call("files", op="read", path="sub"))[4]["error"] == "tool_error"
    env.close()


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "sub/../../x", "..", "~/.bashrc", "C:\\Windows\\x", "a\\..\\..\\x", "", "a\x00b"]
)
def test_workspace_refuses_paths_outside(path: str) -> None:
    workspace = Workspace()
    try:
        for op in ("read", "write"):
            with pytest.raises(ValueError):
                workspace.read(path) if op == "read" else workspace.write(path, "pwned")
        assert workspace.files() == []
    finally:
        workspace.cleanup()


def test_workspace_refuses_symlinks_pointing_outside(tmp_path: os.PathLike) -> None:
    secret = os.path.join(tmp_path, "secret.txt")
    with open(secret, "w") as handle:
        handle.write("top secret")
    env = ToolUseEnv(tasks=["calculator"])
    env.reset(seed=0)
    root = env.workspace.root
    os.symlink(secret, os.path.join(root, "link.txt"))
    os.symlink(str(tmp_path), os.path.join(root, "linkdir"))
    for arguments in [
        {"op": "read", "path": "link.txt"},
        {"op": "read", "path": "linkdir/secret.txt"},
        {"op": "write", "path": "link.txt", "content": "overwritten"},
        {"op": "write", "path": "linkdir/new.txt", "content": "x"},
    ]:
        obs, _, _, _, info = env.step(call("files", **arguments))
        assert info["error"] == "tool_error" and "symlink" in obs and "top secret" not in obs
    assert open(secret).read() == "top secret" and sorted(os.listdir(tmp_path)) == ["secret.txt"]
    assert env.step(call("files", op="list"))[0] == "files: no files"  # symlinks are neither followed nor listed
    env.close()


def test_workspace_is_deleted_on_reset_close_and_garbage_collection() -> None:
    env = ToolUseEnv(tasks=["file"])
    env.reset(seed=0)
    first = env.workspace.root
    assert os.path.isdir(first) and env.workspace.files()
    env.reset(seed=1)
    second = env.workspace.root
    assert not os.path.exists(first) and os.path.isdir(second)
    env.close()
    assert not os.path.exists(second)
    env.reset(seed=2)  # usable after close
    third = env.workspace.root
    del env
    gc.collect()
    assert not os.path.exists(third)


# ---------------------------------------------------------------------------------------------------- rewards
def test_calling_tools_many_times_never_beats_solving() -> None:
    env = ToolUseEnv(tasks=["calculator"], max_turns=100)
    env.reset(seed=0)
    rewards = [env.step(call("calculator", expression="1+1"))[1] for _ in range(60)]
    rewards += [env.step("garbage")[1] for _ in range(30)]
    assert all(r <= 0 for r in rewards) and sum(rewards) == pytest.approx(-0.5)  # capped
    _, tool_reward, _, _, _ = env.step(env.expert_action())  # the needed calculator call: free once capped
    _, answer_reward, terminated, _, info = env.step(env.expert_action())
    assert (tool_reward, answer_reward, terminated, info["success"]) == (0.0, 1.0, True, True)
    rewards += [tool_reward, answer_reward]
    assert sum(rewards) == pytest.approx(0.5)  # a correct answer stays positive however many calls came first
    # The best possible return is the expert's: one tool call and the answer.
    _, expert_rewards, _ = run_expert(env, 0)
    assert sum(expert_rewards) == pytest.approx(0.98) and sum(expert_rewards) > sum(rewards)


def test_turn_limit_truncates() -> None:
    env = ToolUseEnv(max_turns=3)
    env.reset(seed=0)
    outcomes = [env.step(call("memory", op="list"))[2:4] for _ in range(3)]
    assert outcomes == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError):
        env.step('{"answer": "1"}')


def test_sample_action_and_constructor_validation() -> None:
    env = ToolUseEnv()
    env.reset(seed=0)
    rng = random.Random(0)
    actions = {env.sample_action(rng) for _ in range(50)}
    assert len(actions) > 5
    for action in actions:
        env.reset(seed=0)
        json.dumps(env.step(action)[4])
    with pytest.raises(ValueError):
        ToolUseEnv(difficulty=0)
    with pytest.raises(ValueError):
        ToolUseEnv(tasks=["chess"])
    env.close()


# ---------------------------------------------------------------------------------------------------- python (last)
def _sandbox_available() -> bool:
    try:
        from mrlm_hf.sandbox import run_python  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _sandbox_available(), reason="mrlm_hf.sandbox (the code sandbox) is missing or fails to import")
def test_python_tool_runs_code_and_expert_solves_python_tasks() -> None:
    env = ToolUseEnv(difficulty=2, tasks=["python"])
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(call("python", code="print(6 * 7)"))
    assert obs == "python: 42" and info["error"] is None and reward == pytest.approx(-0.02)
    obs = env.step(call("python", code="raise SystemExit(3)"))[0]
    assert "exit code 3" in obs
    solved = 0
    for seed in range(12):
        env.reset(seed=seed)
        obs, _, _, _, _ = env.step(env.expert_action())
        assert obs == f"python: {env._answer}", obs  # the expert's code really computes the answer
        solved += env.step(env.expert_action())[4]["success"]
    assert solved == 12
    env.close()
