"""``code``: write a Python program that passes unit tests, with feedback and several attempts.

The task is a programming problem (``mrlm_hf.envs.code_tasks``): 61 built-in function tasks, or tasks from a
``datasets.Dataset``. The action is code: the last ```` ```python ```` fenced block of the reply (an unclosed
block counts, so a reply cut off by the token limit still runs), or the whole reply if it has no fenced block.

Grading (``mrlm_hf.envs.code_grading``) runs the candidate and all tests in ONE sandboxed execution
(``mrlm_hf.sandbox.run_python``); the feedback names the failing tests (see below).

Reward: the improvement of the fraction of tests passed over the best fraction so far in the episode
(``max(0, passed / total - best)``), so resubmitting the same or a worse program earns nothing and the episode
return is at most 1.0 (reached exactly when the tests all pass). Passing every test terminates the episode with
``info["success"]``. Feedback names the failing tests: for visible tests the call or input, the returned value or
the exception (type and truncated message); for hidden tests only their number and whether the answer was wrong
or which exception was raised, never their input or expected value.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mrlm_hf.envs.base import TextEnv, check_task_dataset
from mrlm_hf.envs.code_grading import GradeResult, build_harness, grade, value_cap, values_equal
from mrlm_hf.envs.code_tasks import (
    COLUMN_HINTS,
    CodeTask,
    builtin_tasks,
    stub_program,
    task_from_row,
)
from mrlm_hf.envs.dataset_rows import parse_rows
from mrlm_hf.envs.registry import register_env

__all__ = [
    "CodeEnv",
    "GradeResult",
    "build_harness",
    "extract_code",
    "grade",
    "validate_tasks_by_running",
    "value_cap",
    "values_equal",
]

#: ``info["parsed_action"]`` holds at most this many characters of the extracted code.
PARSED_ACTION_CHARS = 2_000

FEEDBACK_NO_CODE = "No code found. Reply with your complete solution in a ```python code block."
FEEDBACK_RETRY = "Fix the code and reply with the complete program in a ```python code block."

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+.\-]{0,20})[^\n`]{0,100}\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pycon"}


def extract_code(text: Any) -> str | None:
    """The program in a reply: the last ```` ```python ```` (or untagged) fenced block, else the whole text.
    Returns None when there is no code at all (empty or whitespace-only)."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    blocks = [
        m.group(2)
        for m in _FENCE_RE.finditer(text)
        if m.group(1).lower() in _PYTHON_TAGS or m.group(1).lower().startswith("python")
    ]
    code = blocks[-1] if blocks else text
    return code if code.strip() else None


# ---------------------------------------------------------------------------------------------------- datasets
_VALIDATED: set[tuple[Any, float, int | None]] = set()


def _check_code_columns(dataset: Any) -> None:
    """``check_task_dataset`` with a hint when the columns are those of a public dataset under other names."""
    columns = getattr(dataset, "column_names", None)
    if columns is not None and "tests" not in columns:
        renames = [f"'{c}' -> {COLUMN_HINTS[c]}" for c in COLUMN_HINTS if c in columns]
        if renames:
            raise ValueError(
                f"dataset has no column 'tests'; columns are {columns}. Rename: {', '.join(renames)} "
                "(docs/datasets.md gives the whole mapping for HumanEval and MBPP)"
            )
    check_task_dataset(dataset, ("prompt", "tests"))


def validate_tasks_by_running(
    tasks: Sequence[CodeTask], *, timeout: float = 2.0, memory_mb: int | None = 512, max_workers: int = 4
) -> None:
    """Run each task's tests in the sandbox on ``stub_program`` (they must not all pass) and on the task's
    ``solution`` where it has one (they must all pass); raise ``ValueError`` naming every failing row."""
    jobs = [(i, stub_program(t), "stub") for i, t in enumerate(tasks)]
    jobs += [(i, t.solution, "solution") for i, t in enumerate(tasks) if t.solution]

    def run(job: tuple[int, str, str]) -> GradeResult:
        index, code, _ = job
        task = tasks[index]
        return grade(code, task, timeout=task.timeout or timeout, memory_mb=memory_mb)

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        results = list(pool.map(run, jobs))
    problems = []
    for (index, _, kind), result in zip(jobs, results):
        if kind == "stub" and result.error is None:
            problems.append(
                f"dataset row {index} ({tasks[index].task_id}): all {result.total} tests pass on a program that "
                "does nothing (every called function returns None), so they cannot tell a solution from none"
            )
        elif kind == "solution" and result.error is not None:
            problems.append(
                f"dataset row {index} ({tasks[index].task_id}), column 'solution': the reference solution fails "
                f"its tests ({result.error}): {result.feedback[:300]}"
            )
    if problems:
        shown = "\n".join(problems[:10]) + (f"\n... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ValueError(f"{len(problems)} task problem(s) found by validate_tasks=True:\n{shown}")


# ---------------------------------------------------------------------------------------------------- environment
class CodeEnv(TextEnv):
    """Write a Python program that passes a task's unit tests; ``max_turns`` attempts with test feedback.

    Args:
        task_set: ``"builtin"``: the 61 built-in function tasks (ignored when ``dataset`` is given).
        difficulty: None for all built-in tasks, or 1, 2 or 3 for one level (20, 25 and 16 tasks).
        dataset: optional ``datasets.Dataset`` (or a sequence of mappings) of tasks, one per row, with columns

            * ``prompt`` (str, required): the task text shown to the agent;
            * ``tests`` (required): a list of tests, each an assert statement string (``"assert add(1, 2) ==
              3"``, MBPP style), an ``{"input": str, "output": str}`` pair (stdin/stdout programs) or an
              ``{"args": "(1, 2)", "expected": "3"}`` pair of Python literals (calls of ``entry_point``,
              compared outside the sandbox); or one test script as a string (HumanEval style: if it defines
              ``check``, ``check(<entry_point function>)`` is called, so such a script needs ``entry_point``).
              A string holding the JSON or Python text of a list is decoded to that list;
            * ``hidden_tests`` (optional): tests in the same formats that are not meant to be shown; the
              feedback reports only their number (assert tests still run inside the sandbox, so their text is
              readable by the candidate);
            * ``entry_point`` (optional, required for args/expected tests and check scripts): the function to
              define;
            * ``test_imports`` (optional list of str) and ``test_setup_code`` (optional str), MBPP's columns:
              run in the program's namespace after its definitions and before the tests;
            * ``timeout`` (optional number): this task's sandbox seconds per attempt instead of ``timeout``;
            * ``solution`` (optional): a reference program, the expert's action;
            * ``task_id`` (optional).

            Every row is checked when the environment is made (``task_from_row``): a row without a prompt or
            tests, with a test that is not a string or pair, or with an assert/script test that can never fail
            (no assert or raise would run, e.g. a check script without ``entry_point``) raises ``ValueError``
            naming the row, the column and the test. Rename other columns with ``Dataset.rename_columns``
            (docs/datasets.md maps GSM8K, HumanEval and MBPP). ``reset(seed)`` picks row ``seed % len``.
            ``config`` then records ``{"dataset": "<in-memory>"}``: pass the dataset again to recreate the env.
        max_turns: attempts.
        timeout: sandbox wall-clock seconds for one attempt (all tests together).
        memory_mb: sandbox address-space limit.
        validate_tasks: also run every dataset task in the sandbox when the environment is made: the tests must
            fail on ``stub_program`` (functions that return None) and, where a row has a ``solution``, pass on
            it; otherwise ``ValueError`` names the rows. Off by default: it costs two sandbox runs per task
            (100 tasks took 11 s on a busy 2-core machine), while the static checks cost well under a
            millisecond a row. A ``datasets.Dataset`` that passed is not run again in this process.

    ``info`` carries ``tests_passed`` and ``tests_total`` (of the latest attempt) besides the common keys.
    """

    name = "code"
    system_prompt = (
        "You are an expert Python programmer. Solve the task with a complete, self-contained Python program in "
        "one ```python code block. Define the requested function (no need to call it or to read input unless "
        "the task asks for it). Only the standard library is available."
    )
    stop_strings = ()

    def __init__(
        self,
        task_set: str = "builtin",
        difficulty: int | None = None,
        dataset: Any = None,
        max_turns: int = 3,
        timeout: float = 2.0,
        memory_mb: int | None = 512,
        validate_tasks: bool = False,
    ) -> None:
        super().__init__(max_turns=max_turns)
        if task_set != "builtin":
            raise ValueError(f"task_set must be 'builtin' (or pass dataset=...), got {task_set!r}")
        if difficulty is not None and (isinstance(difficulty, bool) or difficulty not in (1, 2, 3)):
            raise ValueError(f"difficulty must be None, 1, 2 or 3, got {difficulty!r}")
        if dataset is not None:
            _check_code_columns(dataset)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
            raise ValueError(f"timeout must be a positive finite number of seconds, got {timeout!r}")
        self.task_set = task_set
        self.difficulty = difficulty
        self.dataset = dataset
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self._tasks: Sequence[CodeTask]
        if dataset is None:
            self._tasks = [t for t in builtin_tasks() if difficulty is None or t.difficulty == difficulty]
        else:
            self._tasks = parse_rows(dataset, task_from_row)
            # A datasets.Dataset's fingerprint names its content: the environments that collect_trajectories
            # builds from the same kwargs validate it once per process.
            key = (getattr(dataset, "_fingerprint", None), self.timeout, memory_mb)
            if validate_tasks and (key[0] is None or key not in _VALIDATED):
                validate_tasks_by_running(self._tasks, timeout=self.timeout, memory_mb=memory_mb)
                if key[0] is not None:
                    _VALIDATED.add(key)
        self.task: CodeTask | None = None
        self._best_passed = 0
        self._last_passed = 0

    @property
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "task_set": self.task_set,
            "difficulty": self.difficulty,
            "max_turns": self.max_turns,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
        }
        if self.dataset is not None:
            cfg["dataset"] = "<in-memory>"
        return cfg

    @property
    def num_tasks(self) -> int:
        """Number of tasks (built-in tasks at this difficulty, or dataset rows); ``reset(seed)`` takes task
        ``seed % num_tasks``."""
        return len(self._tasks)

    def _info(self, parsed: str | None = None, error: str | None = None, success: bool = False) -> dict[str, Any]:
        task = self.task
        return {
            "task_id": task.task_id if task else None,
            "parsed_action": parsed,
            "error": error,
            "success": success,
            "tests_passed": self._last_passed,
            "tests_total": len(task.tests) if task else 0,
        }

    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seed = self._seed
        if not isinstance(seed, int) or isinstance(seed, bool):
            seed = self.rng.randrange(2**31)
            self.rng = random.Random(seed)
        index = seed % self.num_tasks
        self.task = self._tasks[index]
        self._best_passed = self._last_passed = 0
        return self.task.prompt, self._info()

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        task = self.task
        if task is None:
            raise RuntimeError("CodeEnv.step() called before reset().")
        last = self.turn >= self.max_turns
        code = extract_code(action)
        if code is None:
            self._last_passed = 0
            return FEEDBACK_NO_CODE, 0.0, False, self._info(error="no_code")
        timeout = task.timeout if task.timeout is not None else self.timeout
        result = grade(code, task, timeout=timeout, memory_mb=self.memory_mb)
        self._last_passed = result.passed
        reward = max(0, result.passed - self._best_passed) / result.total
        self._best_passed = max(self._best_passed, result.passed)
        success = result.error is None
        obs = result.feedback if success or last else f"{result.feedback}\n{FEEDBACK_RETRY}"
        return obs, reward, success, self._info(code[:PARSED_ACTION_CHARS], result.error, success)

    def expert_action(self) -> str:
        """The task's reference solution in a fenced block (built-in tasks always have one)."""
        if self.task is None:
            raise RuntimeError("CodeEnv.expert_action() called before reset().")
        if not self.task.solution:
            raise RuntimeError(f"Task {self.task.task_id} has no reference solution (dataset column 'solution').")
        return f"```python\n{self.task.solution.rstrip()}\n```"

    def sample_action(self, rng: random.Random) -> str:
        """A wrong or malformed program: a stub returning a constant or raising, a syntax error, prose, garbage."""
        name = (self.task.entry_point if self.task else None) or "solve"
        kind = rng.randrange(6)
        if kind == 0:
            return f"```python\ndef {name}(*args):\n    return {rng.choice(['None', '0', '[]', repr(''), 'True'])}\n```"
        if kind == 1:
            return f"```python\ndef {name}(*args):\n    return {rng.randint(-100, 100)}\n```"
        if kind == 2:
            return f"```python\ndef {name}(*args):\n    raise NotImplementedError\n```"
        if kind == 3:
            return f"```python\ndef {name}(:\n    return\n```"
        if kind == 4:
            return rng.choice(["", "I am not sure how to solve this.", "The answer is 42."])
        return "".join(rng.choice("abcdefghij(){}[]:=+-*/ \n") for _ in range(rng.randint(1, 60)))


register_env("code", CodeEnv)
