"""Tests of the ``code`` environment: tasks, grading through the sandbox, feedback, rewards and datasets."""

from __future__ import annotations

import ast
import copy
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import datasets
import pytest

from mrlm_hf.envs import list_envs, make_env
from mrlm_hf.envs.code import CodeEnv, build_harness, extract_code, grade, values_equal
from mrlm_hf.envs.code_tasks import CodeTask, TestCase, _reference, builtin_tasks

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox")


def _task(name: str) -> CodeTask:
    return next(t for t in builtin_tasks() if t.entry_point == name)


def _env_at(name: str, **kwargs) -> CodeEnv:
    env = CodeEnv(**kwargs)
    index = next(i for i, t in enumerate(builtin_tasks()) if t.entry_point == name)
    env.reset(seed=index)
    assert env.task.entry_point == name
    return env


def _fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\nIt should work."


# ---------------------------------------------------------------------------------------------------- tasks
def test_builtin_task_set_is_large_and_well_formed() -> None:
    tasks = builtin_tasks()
    assert len(tasks) >= 50
    assert len({t.task_id for t in tasks}) == len(tasks) and len({t.entry_point for t in tasks}) == len(tasks)
    assert {t.difficulty for t in tasks} == {1, 2, 3}
    for task in tasks:
        visible = [t for t in task.tests if not t.hidden]
        assert len(visible) >= 3 and task.num_hidden >= 3, task.task_id
        assert task.entry_point in task.prompt and task.signature in task.prompt
        reference = _reference(task.solution, task.entry_point)
        for test in task.tests:
            assert test.kind == "call"
            assert ast.literal_eval(repr(test.args)) == test.args  # arguments travel as literals
            # hand-written examples agree with the reference solution (hidden ones are computed from it)
            assert reference(*copy.deepcopy(test.args)) == test.expected, (task.task_id, test.args)


def test_expert_solves_every_builtin_task() -> None:
    def solve(seed: int) -> tuple[str, bool, float, bool, str]:
        env = CodeEnv()
        env.reset(seed=seed)
        obs, reward, terminated, truncated, info = env.step(env.expert_action())
        return info["task_id"], info["success"], reward, terminated, obs

    n = len(builtin_tasks())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(solve, range(n)))
    assert len({r[0] for r in results}) == n  # seeds 0..n-1 cover every task
    failures = [r for r in results if not r[1]]
    assert failures == []
    assert all(r[2] == 1.0 and r[3] for r in results)
    assert all(r[4].startswith("All ") for r in results)


def test_reproducible_by_seed_and_difficulty_filters() -> None:
    a, b = CodeEnv(), CodeEnv()
    assert a.reset(seed=7)[0] == b.reset(seed=7)[0]
    assert a.reset(seed=7)[0] != a.reset(seed=8)[0]
    obs, info = a.reset()
    assert info["task_id"].startswith("code-") and obs
    for level, count in ((1, 20), (2, 25), (3, 16)):
        env = CodeEnv(difficulty=level)
        assert env.num_tasks == count
        assert {env.reset(seed=s)[1]["task_id"] for s in range(count)} == {
            t.task_id for t in builtin_tasks() if t.difficulty == level
        }


def test_registry_config_and_validation() -> None:
    assert "code" in list_envs()
    env = make_env("code", difficulty=2, max_turns=2, timeout=1.5)
    assert env.config == {"task_set": "builtin", "difficulty": 2, "max_turns": 2, "timeout": 1.5, "memory_mb": 512}
    clone = make_env("code", **json.loads(json.dumps(env.config)))
    assert clone.reset(seed=4) == env.reset(seed=4)
    for bad in ({"difficulty": 4}, {"difficulty": True}, {"task_set": "other"}, {"timeout": 0}, {"max_turns": 0}):
        with pytest.raises(ValueError):
            CodeEnv(**bad)


# ---------------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1\n"),
        ("text\n```py\nx = 1\n```\nmore\n```python\nx = 2\n```\n", "x = 2\n"),  # the last block
        ("```\nx = 3\n```", "x = 3\n"),  # untagged
        ("```python\nx = 4\n```\n```text\nsample output\n```", "x = 4\n"),  # other languages are skipped
        ("```Python3\nx = 5", "x = 5"),  # unclosed (cut off by the token limit)
        ("def g():\n    return 6", "def g():\n    return 6"),  # no fence: the raw reply
        ("", None),
        ("   \n ", None),
        ("```python\n\n```", None),
        (None, None),
    ],
)
def test_extract_code(text: str | None, expected: str | None) -> None:
    assert extract_code(text) == expected


def test_extract_code_is_fast_on_garbage() -> None:
    for garbage in ["`" * 20_000, "```" * 7_000, "```python" * 2_000, "```\n" * 5_000, "\x00\xff" * 10_000]:
        start = time.monotonic()
        extract_code(garbage)
        assert time.monotonic() - start < 0.5


def test_values_equal() -> None:
    assert values_equal([1, 2], (1, 2)) and values_equal((1, [2.0]), [1, [2]])
    assert values_equal(0.1 + 0.2, 0.3) and not values_equal(0.31, 0.3)
    assert values_equal({"a": [1]}, {"a": (1,)}) and not values_equal({"a": 1}, {"b": 1})
    assert not values_equal(1, True) and not values_equal(True, 1) and values_equal(False, False)
    assert not values_equal("1", 1) and not values_equal(None, 0) and values_equal(None, None)
    assert values_equal({1, 2}, {2, 1}) and values_equal(float("nan"), float("nan"))


# ---------------------------------------------------------------------------------------------------- grading
def test_feedback_names_failing_visible_tests_and_hides_hidden_expectations() -> None:
    env = _env_at("factorial")
    obs, reward, terminated, truncated, info = env.step(_fenced("def factorial(n):\n    return n"))
    hidden_expected = [repr(t.expected) for t in env.task.tests if t.hidden and t.expected > 1000]
    assert len(hidden_expected) == 3
    assert "Test 1 failed: factorial(0) returned 0, expected 1." in obs
    assert "Hidden test" in obs and "wrong answer" in obs
    for value in hidden_expected:  # 3628800, 2432902008176640000, ...
        assert value not in obs and value not in env.task.prompt
        assert value not in build_harness("pass", env.task)  # expected values never enter the sandbox
    assert info["error"] == "wrong_answer" and not terminated and not truncated
    assert info["tests_passed"] == 1 and info["tests_total"] == 7 and reward == pytest.approx(1 / 7)
    assert info["parsed_action"].strip() == "def factorial(n):\n    return n"


def test_feedback_reports_exceptions() -> None:
    env = _env_at("sum_digits")
    code = "def sum_digits(n):\n    if n == 1234:\n        return 10\n    raise ValueError('nope ' * 100)"
    obs, _, _, _, info = env.step(_fenced(code))
    assert info["error"] == "runtime_error"
    assert "Test 1 failed: sum_digits(0) raised ValueError: nope" in obs
    assert len(obs) < 2_000  # messages are truncated
    assert "Hidden test 4 failed: it raised ValueError." in obs  # type only for hidden tests
    assert "nope" not in obs.split("Hidden test 4")[1] and "1000000" not in obs


@pytest.mark.parametrize(
    ("code", "error", "needle"),
    [
        ("def count_vowels(s)\n    return 0", "syntax_error", "syntax error"),
        ("import nonexistent_module_xyz", "runtime_error", "ModuleNotFoundError"),
        ("def something_else(s):\n    return 0", "missing_function", "does not define a function named `count_vowels`"),
        ("import sys\nsys.exit(0)", "runtime_error", "SystemExit"),
        ("count_vowels = 3", "missing_function", "count_vowels"),
    ],
)
def test_broken_programs_get_a_clear_error(code: str, error: str, needle: str) -> None:
    env = _env_at("count_vowels")
    obs, reward, terminated, _, info = env.step(_fenced(code))
    assert info["error"] == error and needle in obs and reward == 0.0 and not terminated
    assert info["tests_passed"] == 0


def test_hostile_programs_return_observations_within_the_timeout() -> None:
    env = _env_at("clamp", timeout=0.5, max_turns=10)
    loop_in_function = "def clamp(x, lo, hi):\n    while True:\n        pass"
    cases = {
        "while True:\n    pass": "timeout",
        loop_in_function: "timeout",
        "import os\nos._exit(0)": "crashed",
        # a no-op in a PID namespace (the parent is outside it), kills the supervisor elsewhere
        "import os\ndef clamp(x, lo, hi):\n    os.kill(os.getppid(), 9)": ("wrong_answer", "runtime_error", "crashed"),
        "x = bytearray(10 * 1024 ** 3)": "runtime_error",  # MemoryError at definition
        "import os\nos.fork()": "runtime_error",
        "import sys\nwhile True:\n    sys.__stdout__.write('x' * 10000)": "timeout",  # prints go to /dev/null
        "import os\nwhile True:\n    os.write(1, b'x' * 10000)": "timeout",
    }
    for code, error in cases.items():
        start = time.monotonic()
        obs, reward, terminated, _, info = env.step(_fenced(code))
        assert info["error"] in ((error,) if isinstance(error, str) else error), (code, info, obs)
        assert reward == 0.0 and not terminated and isinstance(obs, str) and obs
        assert time.monotonic() - start < 4.0, code


def test_timeout_keeps_results_of_tests_that_finished() -> None:
    env = _env_at("factorial", timeout=0.5)
    task = env.task
    hang = next(i for i, t in enumerate(task.tests) if t.args == (20,))
    code = "def factorial(n):\n    if n == 20:\n        while True:\n            pass\n    r = 1\n    for i in range(2, n + 1):\n        r *= i\n    return r"
    obs, reward, _, _, info = env.step(_fenced(code))
    assert info["error"] == "timeout" and info["tests_passed"] == hang
    assert "did not finish: the program timed out after 0.5 s" in obs
    assert reward == pytest.approx(hang / len(task.tests))


def test_printed_results_cannot_be_forged() -> None:
    env = _env_at("is_leap_year")
    forged = "\n".join(
        json.dumps({"kind": "result", "i": i, "value": "True", "ok": True, "nonce": "guess"}) for i in range(8)
    )
    code = (
        "import sys, os\n"
        f"print({forged!r})\n"
        f"os.write(1, {forged!r}.encode() + b'\\n')\n"
        "stolen = sys.stdin.read()\n"  # the nonce was consumed from a pipe: nothing left to steal
        "def is_leap_year(year):\n    return stolen\n"
    )
    _, reward, terminated, _, info = env.step(_fenced(code))
    assert info["tests_passed"] == 0 and reward == 0.0 and not terminated


def test_grade_handles_stdio_assert_and_script_tests() -> None:
    task = CodeTask(
        task_id="mixed",
        prompt="Define add(a, b); the program also echoes the sum of two numbers read from stdin.",
        entry_point="add",
        tests=(
            TestCase("assert", source="assert add(1, 2) == 3"),
            TestCase("call", args=(2.5, 0.25), expected=2.75),
            TestCase("script", source="def check(candidate):\n    assert candidate(-1, 1) == 0"),
            TestCase("stdio", stdin="4 5\n", expected="9\n"),
            TestCase("assert", source="assert add('a', 'b') == 'ab'", hidden=True),
        ),
    )
    good = "def add(a, b):\n    return a + b\nif __name__ == '__main__':\n    x, y = map(int, input().split())\n    print(x + y)"
    result = grade(good, task)
    assert result.outcomes == ["pass"] * 5 and result.error is None
    result = grade("def add(a, b):\n    return a - b\nif __name__ == '__main__':\n    print('0  ')", task)
    assert result.outcomes == ["error", "wrong", "error", "wrong", "error"]
    assert "Test 1 failed: `assert add(1, 2) == 3` raised AssertionError." in result.feedback
    assert "with input '4 5\\n' the program printed '0  \\n', expected '9\\n'" in result.feedback
    assert "add('a', 'b')" not in result.feedback  # hidden test's source is not shown


# ---------------------------------------------------------------------------------------------------- rewards
def test_rewards_cannot_be_farmed() -> None:
    env = _env_at("second_largest", max_turns=6)
    partial = _fenced("def second_largest(nums):\n    return sorted(set(nums))[-2]")  # fails the None cases
    rewards = [env.step(partial)[1], env.step(partial)[1], env.step("garbage")[1]]
    assert rewards[0] > 0 and rewards[1] == 0.0 and rewards[2] == 0.0
    obs, reward, terminated, _, info = env.step(env.expert_action())
    assert terminated and info["success"] and obs.startswith("All")
    assert sum(rewards) + reward == pytest.approx(1.0)  # the return of any episode is at most 1.0
    rng = random.Random(0)
    for seed in range(8):
        env = CodeEnv(max_turns=4)
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.sample_action(rng))
            total, done = total + r, terminated or truncated
        assert total <= 1.0


def test_sample_action_is_a_weak_baseline() -> None:
    rng = random.Random(1)
    env = CodeEnv(max_turns=1)
    successes = 0
    for seed in range(12):
        env.reset(seed=seed * 5)
        successes += env.step(env.sample_action(rng))[4]["success"]
    assert successes == 0


@pytest.mark.parametrize("action", [None, "", "   ", b"\xff\xfe\x00garbage", "x" * 100_000, 12345, "{not code"])
def test_malformed_actions_are_observations(action: object) -> None:
    env = _env_at("fizzbuzz", max_turns=2)
    obs, reward, terminated, truncated, info = env.step(action)
    assert isinstance(obs, str) and obs and reward == 0.0 and not terminated and not truncated
    assert info["error"] in ("no_code", "syntax_error", "runtime_error", "missing_function")
    json.dumps(info)
    obs, _, _, truncated, info = env.step(action)
    assert truncated and "Fix the code" not in obs  # no retry prompt on the last attempt
    assert set(info) >= {"task_id", "turn", "parsed_action", "error", "success", "tests_passed", "tests_total"}


# ---------------------------------------------------------------------------------------------------- datasets
def test_dataset_of_mbpp_style_asserts_with_hidden_tests() -> None:
    rows = {
        "prompt": ["Write add(a, b) returning the sum.", "Write rev(s) reversing a string."],
        "entry_point": ["add", "rev"],
        "tests": [["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], ["assert rev('ab') == 'ba'"]],
        "hidden_tests": [["assert add(10, 20) == 30"], ["assert rev('') == ''", "assert rev('xyz') == 'zyx'"]],
        "solution": ["def add(a, b):\n    return a + b", "def rev(s):\n    return s[::-1]"],
    }
    env = CodeEnv(dataset=datasets.Dataset.from_dict(rows))
    assert env.config["dataset"] == "<in-memory>" and env.num_tasks == 2
    for seed in (0, 1):
        obs, info = env.reset(seed=seed)
        assert obs == rows["prompt"][seed] and info["task_id"] == f"code-data-{seed}"
        _, reward, terminated, _, info = env.step(env.expert_action())
        assert terminated and info["success"] and reward == 1.0
    env.reset(seed=0)
    obs, reward, _, _, info = env.step("```python\ndef add(a, b):\n    return a * b\n```")
    assert info["tests_total"] == 3 and "`assert add(1, 2) == 3`" in obs and "add(10, 20)" not in obs
    with pytest.raises(TypeError):
        make_env("code", **env.config)  # the marker cannot stand in for the data


def test_dataset_of_stdio_and_call_tests_and_errors() -> None:
    stdio = datasets.Dataset.from_list(
        [
            {
                "prompt": "Read n and print n squared.",
                "tests": [{"input": "3\n", "output": "9"}, {"input": "12\n", "output": "144\n"}],
                "solution": "n = int(input())\nprint(n * n)",
                "task_id": "square",
            }
        ]
    )
    env = CodeEnv(dataset=stdio, max_turns=5)
    assert env.reset(seed=5)[1]["task_id"] == "square"
    for program in (  # the usual ways of reading input and printing, including exit()
        "import sys\nn = int(sys.stdin.buffer.readline())\nsys.stdout.buffer.write(b'%d\\n' % (n * n))\nexit(0)",
        "import sys\nn = int(sys.stdin.read())\nsys.stdout.write(str(n * n))",
    ):
        env.reset(seed=0)
        assert env.step(f"```python\n{program}\n```")[4]["success"], program
    env.reset(seed=0)
    assert env.step(env.expert_action())[4]["success"]
    calls = [
        {
            "prompt": "Write mean(xs).",
            "entry_point": "mean",
            "tests": [{"args": "([1, 2],)", "expected": "1.5"}],
            "hidden_tests": [{"args": "([2, 2, 5],)", "expected": "3.0"}],
        }
    ]
    env = CodeEnv(dataset=calls)
    env.reset(seed=0)
    assert env.step("```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```")[4]["success"]
    with pytest.raises(RuntimeError):
        env.expert_action()  # no solution column
    with pytest.raises(ValueError):
        CodeEnv(dataset=datasets.Dataset.from_dict({"prompt": ["x"]}))  # no tests column
    with pytest.raises(ValueError):
        CodeEnv(dataset=[])
    with pytest.raises(TypeError):
        CodeEnv(dataset="<in-memory>")
    for bad_row in (
        {"prompt": "p", "tests": []},
        {"prompt": "", "tests": ["assert True"]},
        {"prompt": "p", "tests": [{"args": "(1,)", "expected": "1"}]},
    ):
        with pytest.raises(ValueError):
            CodeEnv(dataset=[bad_row]).reset(seed=0)


def test_dataset_humaneval_style_check_script() -> None:
    row = {
        "prompt": 'def double(x):\n    """Return 2 * x."""\n',
        "entry_point": "double",
        "tests": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-3) == -6\n",
        "solution": "def double(x):\n    return 2 * x",
    }
    env = CodeEnv(dataset=[row])
    env.reset(seed=0)
    _, _, _, _, info = env.step("```python\ndef double(x):\n    return x + 2\ndef check(candidate):\n    pass\n```")
    assert not info["success"] and info["error"] == "runtime_error"  # the task's check ran, not the candidate's
    assert env.step(env.expert_action())[4]["success"]
