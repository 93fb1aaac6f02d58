"""Run every example of docs/datasets.md on a few rows made here with the public datasets' real column names.

``datasets.load_dataset`` is replaced by a function that returns these rows (nothing is downloaded); each example
must end with an ``env`` in which the expert solves every row and a wrong answer fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import datasets
import pytest
from test_docs import blocks

from mrlm_hf.envs.code import CodeEnv
from mrlm_hf.envs.math import MathEnv

DOC = Path(__file__).resolve().parent.parent / "docs" / "datasets.md"

GSM8K = {
    "question": [
        "A baker makes 24 muffins in the morning and half as many in the afternoon. How many muffins does she "
        "make in total?",
        "Four train tickets cost $15 each, and the family has a coupon for $10 off the total. How much do they pay?",
        "A pond holds 1200 liters. It loses 35 liters a day for 8 days. How many liters are left?",
    ],
    "answer": [
        "In the afternoon she makes 24 / 2 = <<24/2=12>>12 muffins.\n"
        "In total she makes 24 + 12 = <<24+12=36>>36 muffins.\n#### 36",
        "The tickets cost 4 * 15 = <<4*15=60>>60 dollars.\nWith the coupon they pay 60 - 10 = <<60-10=50>>50.\n#### 50",
        "It loses 35 * 8 = <<35*8=280>>280 liters.\n1200 - 280 = <<1200-280=920>>920 liters are left.\n#### 920",
    ],
}

HUMANEVAL = {
    "task_id": ["HumanEval/0", "HumanEval/1"],
    "prompt": [
        "from typing import List\n\n\ndef running_max(numbers: List[int]) -> List[int]:\n"
        '    """ Return the list of the maxima of each prefix of numbers.\n'
        "    >>> running_max([1, 3, 2, 5])\n    [1, 3, 3, 5]\n"
        '    """\n',
        "\n\ndef hypotenuse(a: float, b: float) -> float:\n"
        '    """ Length of the hypotenuse of a right triangle with legs a and b.\n'
        "    >>> hypotenuse(3, 4)\n    5.0\n"
        '    """\n',
    ],
    "canonical_solution": [
        "    result = []\n    best = None\n    for n in numbers:\n        best = n if best is None else max(best, n)\n"
        "        result.append(best)\n    return result\n",
        "    return (a * a + b * b) ** 0.5\n",
    ],
    "test": [
        "\n\nMETADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n"
        "    assert candidate([]) == []\n    assert candidate([1, 3, 2, 5]) == [1, 3, 3, 5]\n"
        "    assert candidate([4, 3, 2]) == [4, 4, 4]\n",
        "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    import math\n"
        "    assert math.isclose(candidate(3, 4), 5.0)\n    assert math.isclose(candidate(1, 1), 2 ** 0.5)\n",
    ],
    "entry_point": ["running_max", "hypotenuse"],
}

MBPP_FULL = {
    "task_id": [601, 602],
    "text": [
        "Write a function to find the product of the digits of a positive integer.",
        "Write a function to find the most common character of a string.",
    ],
    "code": [
        "def digit_product(n):\r\n  p = 1\r\n  while n > 0:\r\n    p *= n % 10\r\n    n //= 10\r\n  return p",
        "from collections import Counter\r\ndef most_common_char(s):\r\n  return Counter(s).most_common(1)[0][0]",
    ],
    "test_list": [
        ["assert digit_product(123) == 6", "assert digit_product(7) == 7", "assert digit_product(405) == 0"],
        [
            'assert most_common_char("abracadabra") == "a"',
            'assert most_common_char("buzzer") == "z"',
            'assert most_common_char("mississippi") == expected("mississippi")',
        ],
    ],
    "test_setup_code": [
        "",
        "def expected(s):\n    return Counter(s).most_common(1)[0][0]\nfrom collections import Counter",
    ],
    "challenge_test_list": [["assert digit_product(99999) == 59049"], []],
}

MBPP_SANITIZED = {
    "source_file": [
        "Benchmark Questions Verification V2.ipynb",
        "Mike's Copy of Benchmark Questions Verification V2.ipynb",
    ],
    "task_id": [611, 612],
    "prompt": [
        "Write a function to find the area of a circle given its radius.",
        "Write a function to return the n largest numbers of a list, largest first.",
    ],
    "code": [
        "def circle_area(r):\n    return 3.141592653589793 * r * r",
        "def largest_n(nums, n):\n    return sorted(nums, reverse=True)[:n]",
    ],
    "test_imports": [["import math"], ["import heapq as hq"]],
    "test_list": [
        [
            "assert math.isclose(circle_area(2), 12.566370614359172, rel_tol=0.001)",
            "assert math.isclose(circle_area(0.5), 0.7853981633974483, rel_tol=0.001)",
        ],
        ["assert largest_n([4, 1, 9, 7], 2) == hq.nlargest(2, [4, 1, 9, 7])", "assert largest_n([3], 1) == [3]"],
    ],
}

SOURCES = {
    ("openai/gsm8k", "main", "test"): GSM8K,
    ("openai/openai_humaneval", None, "test"): HUMANEVAL,
    ("google-research-datasets/mbpp", "full", "test"): MBPP_FULL,
    ("google-research-datasets/mbpp", "sanitized", "test"): MBPP_SANITIZED,
}


def _examples() -> list[str]:
    """The page's Python blocks, read as tests/test_docs.py reads every page."""
    return [block.code for block in blocks(DOC) if block.lang == "python"]


def _run_example(code: str, monkeypatch: pytest.MonkeyPatch, rows: dict | None = None) -> tuple[object, tuple]:
    calls = []

    def fake_load_dataset(path: str, name: str | None = None, *, split: str | None = None) -> datasets.Dataset:
        calls.append((path, name, split))
        source = SOURCES[(path, name, split)] if rows is None else rows
        return datasets.Dataset.from_dict(source)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert len(calls) == 1, calls
    return namespace["env"], calls[0]


def test_every_source_has_one_example() -> None:
    assert len(_examples()) == len(SOURCES)


@pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox")
@pytest.mark.parametrize("number", range(len(SOURCES)))
def test_example_loads_and_the_expert_solves_every_row(number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    env, source = _run_example(_examples()[number], monkeypatch)
    rows = SOURCES[source]
    n = len(next(iter(rows.values())))
    assert env.num_tasks == n if isinstance(env, CodeEnv) else isinstance(env, MathEnv)
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        assert obs.strip()
        _, reward, terminated, _, info = env.step(env.expert_action())
        assert info["success"] and terminated and reward == 1.0, (source, seed, info)
        env.reset(seed=seed)
        wrong = "The answer is 7." if isinstance(env, MathEnv) else "```python\nimport math\n```"
        _, reward, _, _, info = env.step(wrong)
        assert not info["success"] and reward <= 0.0, (source, seed)


def test_gsm8k_reference_is_the_number_after_the_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = _run_example(_examples()[0], monkeypatch)
    env.reset(seed=2)
    assert env.answer == 920 and env.step("1200 - 280 = 920. The answer is 920.")[4]["success"]


@pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox")
def test_humaneval_check_runs_and_tests_are_not_visible_as_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = _run_example(_examples()[1], monkeypatch)
    obs, info = env.reset(seed=0)
    assert info["task_id"] == "HumanEval/0" and obs == HUMANEVAL["prompt"][0]
    # a plausible but wrong program: check(candidate) is really called on it
    code = "def running_max(numbers):\n    return sorted(numbers)"
    _, _, _, _, info = env.step(f"```python\n{code}\n```")
    assert info["error"] == "runtime_error" and info["tests_total"] == 1


@pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox")
def test_mbpp_hidden_challenge_tests_and_setup_code_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = _run_example(_examples()[2], monkeypatch)
    obs, info = env.reset(seed=0)
    assert "assert digit_product(123) == 6" in obs and "59049" not in obs  # visible tests shown, challenge hidden
    assert info["tests_total"] == 4 and env.task.tests[-1].hidden
    env.reset(seed=1)  # its third test calls expected(), defined by test_setup_code
    assert "def expected" in env.task.setup


@pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox")
def test_mbpp_test_imports_are_really_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    example = _examples()[3]
    env, _ = _run_example(example, monkeypatch)  # validate_tasks=True: the solutions passed in the sandbox
    env.reset(seed=0)
    assert "import math" not in env.expert_action()  # the tests' math.isclose works only through test_imports
    without = dict(MBPP_SANITIZED, test_imports=[[], []])
    with pytest.raises(ValueError, match=r"(?s)dataset row 0 \(611\), column 'solution'.*NameError"):
        _run_example(example, monkeypatch, rows=without)
