"""Tests of the ``code`` environment: tasks, grading through the sandbox, feedback, rewards and datasets."""

from __future__ import annotations

import ast
import copy
import json
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import datasets
import pytest

from mrlm_hf.envs import list_envs, make_env
from mrlm_hf.envs.code import CodeEnv, build_harness, extract_code, grade, values_equal
from mrlm_hf.envs.code_tasks import CodeTask, TestCase, _reference, builtin_tasks, stub_program

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


# ---------------------------------------------------------------------------------------------------- task checks
_GOOD_ROW = {"prompt": "Write inc(x).", "entry_point": "inc", "tests": ["assert inc(1) == 2"]}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        # HumanEval check script without entry_point: check would never be called
        ({"tests": "def check(candidate):\n    assert candidate(1) == 2\n", "entry_point": None}, "no 'entry_point'"),
        ({"tests": ["def check(candidate):\n    assert candidate(1) == 2"]}, "inside a list of tests"),
        ({"tests": ["inc(1) == 2"]}, "expression whose value is ignored"),
        ({"tests": ["assert True", "assert inc(1) == 2"]}, "test 0 can never fail"),
        ({"tests": '["assert 1 == 1"]'}, "test 0 can never fail"),  # text of a list: decoded, then checked
        ({"tests": "if __name__ == '__main__':\n    assert inc(1) == 2\n"}, "the test script can never fail"),
        ({"tests": ["def t():\n    assert inc(1) == 2"]}, "can never fail"),
        ({"tests": ["try:\n    assert inc(1) == 2\nexcept Exception:\n    pass"]}, "can never fail"),
        ({"tests": "x = inc(1)\nprint(x == 2)\n"}, "the test script can never fail"),
        ({"tests": ["assert inc(1) == 2", ""]}, "test 1 is an empty string"),
        ({"tests": ["assert inc(1) == 2", 3]}, "test 1: a test must be"),
        ({"tests": [["assert inc(1) == 2"]]}, "test 0: a test must be"),
        ({"tests": b"assert inc(1) == 2"}, "tests must be a string or a list"),
        ({"tests": [{"input": 3, "output": "4"}]}, "'input' and 'output' must be strings"),
        ({"tests": ["assert inc(1) = 2"]}, "test 0 is not valid Python"),
        ({"tests": [], "hidden_tests": None}, "the task has no tests"),
        ({"tests": "  "}, "the task has no tests"),
        ({"test_imports": ["import math as"]}, "columns 'test_imports'/'test_setup_code'"),
        ({"test_imports": "import math"}, None),  # a plain string is one import
        ({"test_setup_code": ["x = 1"]}, "column 'test_setup_code': must be a string"),
        ({"hidden_tests": "def check(candidate):\n    pass\n"}, "column 'hidden_tests': the test script can never"),
        ({"solution": ["def inc(x): return x + 1"]}, "column 'solution': must be a string"),
        ({"prompt": None}, "column 'prompt'"),
        ({"entry_point": "not valid"}, "column 'entry_point'"),
    ],
)
def test_tasks_whose_tests_can_never_fail_are_refused_at_load(row: dict, message: str | None) -> None:
    rows = [_GOOD_ROW, {**_GOOD_ROW, **row}, _GOOD_ROW]
    if message is None:
        CodeEnv(dataset=rows)
        return
    with pytest.raises(ValueError, match="dataset row 1[,:] .*" + re.escape(message)):
        CodeEnv(dataset=rows)  # refused when the env is made, before any reset reaches row 1


def test_tests_that_can_fail_load_in_every_accepted_form() -> None:
    scripts = [
        "def t():\n    assert inc(1) == 2\nt()\n",  # a function of asserts that is called
        "def helper(v):\n    if v != 2:\n        raise ValueError(v)\ndef check(candidate):\n    helper(candidate(1))\n",
        "try:\n    assert inc(1) == 2\nexcept KeyError:\n    pass\n",  # does not swallow AssertionError
        "if __name__ != '__main__':\n    assert inc(1) == 2\n",
        "class T:\n    assert inc(1) == 2\n",  # a class body runs
        "for x in (1, 2):\n    assert inc(x) == x + 1\n",
    ]
    rows = [{**_GOOD_ROW, "tests": s, "solution": "def inc(x):\n    return x + 1"} for s in scripts]
    env = CodeEnv(dataset=rows, max_turns=1)
    for seed in range(len(rows)):
        env.reset(seed=seed)
        assert env.step(env.expert_action())[4]["success"], scripts[seed]
        env.reset(seed=seed)
        assert not env.step("```python\ndef inc(x):\n    return x\n```")[4]["success"], scripts[seed]


@pytest.mark.parametrize(
    "tests",
    [
        json.dumps(["assert inc(1) == 2", "assert inc(-1) == 0"]),  # JSON text, as CSV/JSON exports store lists
        repr(["assert inc(1) == 2", "assert inc(-1) == 0"]),  # Python text of a list
        json.dumps([{"input": "1\n", "output": "2"}, {"input": "-1\n", "output": "0"}]),
    ],
)
def test_tests_given_as_the_text_of_a_list_are_decoded_and_can_fail(tests: str) -> None:
    env = CodeEnv(
        dataset=[{"prompt": "Write inc(x); print inc of the number read.", "entry_point": "inc", "tests": tests}]
    )
    env.reset(seed=0)
    assert env.task.tests[0].kind in ("assert", "stdio") and len(env.task.tests) == 2
    _, reward, _, _, info = env.step("```python\npass\n```")  # does nothing: used to pass as a script
    assert reward == 0.0 and not info["success"] and info["tests_total"] == 2
    good = "def inc(x):\n    return x + 1\nif __name__ == '__main__':\n    print(inc(int(input())))"
    assert env.step(f"```python\n{good}\n```")[4]["success"]


def test_humaneval_check_is_called_with_the_entry_point() -> None:
    check = "def check(candidate):\n    assert candidate(2) == 4\n"
    env = CodeEnv(dataset=[{"prompt": "def double(x):\n", "entry_point": "double", "tests": check}])
    env.reset(seed=0)
    for program, success in (("def double(x):\n    return None", False), ("def double(x):\n    return 2 * x", True)):
        assert env.step(f"```python\n{program}\n```")[4]["success"] is success


def test_test_imports_and_setup_code_run_before_the_tests() -> None:
    row = {
        "prompt": "Write root(x).",
        "tests": ["assert math.isclose(root(2.0), 1.4142135, rel_tol=1e-6)", "assert root(SQUARE) == 3"],
        "test_imports": ["import math"],
        "test_setup_code": "SQUARE = 9",
        "solution": "def root(x):\n    return x ** 0.5",
    }
    env = CodeEnv(dataset=[row, {**row, "test_imports": []}])
    env.reset(seed=0)
    assert "import" not in env.expert_action() and env.step(env.expert_action())[4]["success"]
    env.reset(seed=1)  # the same task without its test_imports: the tests cannot find math
    obs, _, _, _, info = env.step(env.expert_action())
    assert not info["success"] and "NameError: name 'math' is not defined" in obs
    broken = CodeEnv(dataset=[{**row, "test_setup_code": "raise RuntimeError('setup broke')"}])
    broken.reset(seed=0)
    obs, _, _, _, info = broken.step(broken.expert_action())
    assert info["error"] == "runtime_error" and "The tests' setup code raised RuntimeError: setup broke" in obs


def test_per_task_timeout_from_the_dataset() -> None:
    slow = "import time\ndef nap(x):\n    time.sleep(0.6)\n    return x"
    row = {"prompt": "Write nap(x).", "entry_point": "nap", "tests": ["assert nap(1) == 1"], "solution": slow}
    env = CodeEnv(dataset=[{**row, "timeout": 0.2}, {**row, "timeout": 5}, row], timeout=3.0)
    assert [t.timeout for t in env._tasks] == [0.2, 5.0, None]
    env.reset(seed=0)
    obs, _, _, _, info = env.step(env.expert_action())
    assert info["error"] == "timeout" and "timed out after 0.2 s" in obs
    for seed in (1, 2):  # its own 5 s, the environment's 3 s
        env.reset(seed=seed)
        assert env.step(env.expert_action())[4]["success"]
    for bad in (0, -1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match=r"dataset row 0, column 'timeout'"):
            CodeEnv(dataset=[{**row, "timeout": bad}])
    for bad in (float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="timeout"):
            CodeEnv(timeout=bad)


def test_long_expected_values_are_compared_in_full() -> None:
    from mrlm_hf.envs.code_grading import MAX_VALUE_CHARS

    n = 3 * MAX_VALUE_CHARS
    rows = [
        {
            "prompt": "Write stars(n).",
            "entry_point": "stars",
            "tests": [{"args": f"({n},)", "expected": repr("*" * n)}],
        },
        {"prompt": "Print n stars.", "tests": [{"input": f"{n}\n", "output": "*" * n}]},
        {"prompt": "Print n euros.", "tests": [{"input": f"{n}\n", "output": "\u20ac" * n}]},  # 3 bytes each
    ]
    env = CodeEnv(dataset=rows, max_turns=3)
    env.reset(seed=0)
    assert env.step("```python\ndef stars(n):\n    return '*' * n\n```")[4]["success"]
    env.reset(seed=0)
    obs, _, _, _, info = env.step("```python\ndef stars(n):\n    return '*' * (10 * n)\n```")
    assert not info["success"] and "longer than" in obs and "not compared" in obs
    env.reset(seed=0)
    obs, _, _, _, info = env.step("```python\ndef stars(n):\n    return '*' * (n - 1)\n```")
    assert not info["success"] and "returned '*****" in obs
    env.reset(seed=1)
    assert env.step("```python\nprint('*' * int(input()))\n```")[4]["success"]
    env.reset(seed=1)
    obs, _, _, _, info = env.step("```python\nprint('*' * (5 * int(input())))\n```")
    assert not info["success"] and "printed longer than" in obs
    env.reset(seed=2)
    assert env.step("```python\nprint('\\u20ac' * int(input()))\n```")[4]["success"]


def test_validate_tasks_runs_a_stub_and_the_solution() -> None:
    weak = {"prompt": "Write f(x).", "tests": ["assert f(1) is None"], "solution": "def f(x):\n    return None"}
    wrong_solution = {**_GOOD_ROW, "solution": "def inc(x):\n    return x"}
    good = {**_GOOD_ROW, "solution": "def inc(x):\n    return x + 1"}
    assert "def f(*args, **kwargs):\n    return None" in stub_program(CodeEnv(dataset=[weak])._tasks[0])
    CodeEnv(dataset=[weak, wrong_solution])  # the static checks cannot see these problems
    with pytest.raises(
        ValueError,
        match=r"(?s)2 task problem.*dataset row 0 .*pass on a program that does nothing.*"
        r"dataset row 1 .*column 'solution': the reference solution fails",
    ):
        CodeEnv(dataset=[weak, wrong_solution, good], validate_tasks=True)
    CodeEnv(dataset=datasets.Dataset.from_list([good, good]), validate_tasks=True)


def test_a_dataset_is_parsed_once_for_many_environments() -> None:
    ds = datasets.Dataset.from_list([_GOOD_ROW, {**_GOOD_ROW, "tests": ["assert inc(2) == 3"]}])
    first, second = CodeEnv(dataset=ds), CodeEnv(dataset=ds)  # as collect_trajectories builds them
    assert first._tasks is second._tasks and len(first._tasks) == 2
    changed = ds.map(lambda row: {"tests": ["assert inc(5) == 6"]})  # new content, new fingerprint
    assert CodeEnv(dataset=changed)._tasks[0].tests[0].source == "assert inc(5) == 6"
