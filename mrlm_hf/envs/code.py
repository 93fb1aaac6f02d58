"""``code``: write a Python program that passes unit tests, with feedback and several attempts.

The task is a programming problem (``mrlm_hf.envs.code_tasks``): 61 built-in function tasks, or tasks from a
``datasets.Dataset``. The action is code: the last ```` ```python ```` fenced block of the reply (an unclosed
block counts, so a reply cut off by the token limit still runs), or the whole reply if it has no fenced block.

Grading runs the candidate and all tests in ONE sandboxed execution (``mrlm_hf.sandbox.run_python``): a harness
compiles the candidate, runs each test independently (catching every exception, ``SystemExit`` included) and
prints one JSON line per test, tagged with a random nonce that the harness reads from stdin, so the candidate
cannot forge results by printing. The candidate's own prints go to ``/dev/null``. Expected values of ``call``
tests are compared in the parent: they never enter the sandbox. A timeout or crash keeps the results of the tests
that finished; the rest fail.

Reward: the improvement of the fraction of tests passed over the best fraction so far in the episode
(``max(0, passed / total - best)``), so resubmitting the same or a worse program earns nothing and the episode
return is at most 1.0 (reached exactly when the tests all pass). Passing every test terminates the episode with
``info["success"]``. Feedback names the failing tests: for visible tests the call or input, the returned value or
the exception (type and truncated message); for hidden tests only their number and whether the answer was wrong
or which exception was raised, never their input or expected value.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mrlm_hf.envs.base import TextEnv, check_task_dataset
from mrlm_hf.envs.code_tasks import (
    COLUMN_HINTS,
    CodeTask,
    TestCase,
    builtin_tasks,
    render_call,
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
#: Characters of a returned value's ``repr`` (or printed output) the harness reports beyond the expected value's
#: own length (``value_cap``); longer values are cut, count as wrong, and the feedback says so.
MAX_VALUE_CHARS = 20_000
#: Most failing tests listed in the feedback.
MAX_FEEDBACK_FAILURES = 5

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


# ---------------------------------------------------------------------------------------------------- harness
_HARNESS = r"""
import io, json, os, sys
_nonce = sys.stdin.readline().strip()
_dumps = json.dumps
_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
_null = os.open(os.devnull, os.O_WRONLY)
os.dup2(_null, 1)
os.close(_null)
_write, _flush = _out.write, _out.flush
_StringIO, _BaseException, _SystemExit, _exec, _eval = io.StringIO, BaseException, SystemExit, exec, eval
_repr, _len, _str, _type, _callable, _enumerate = repr, len, str, type, callable, enumerate
sys.stdin = _StringIO("")


def _emit(**fields):
    fields["nonce"] = _nonce
    _write(_dumps(fields) + "\n")
    _flush()


def _describe(exc):
    try:
        name = _type(exc).__name__[:100]
    except _BaseException:
        name = "Exception"
    try:
        message = _str(exc)[:300]
    except _BaseException:
        message = ""
    return name, message


class _CappedBytes(io.BytesIO):
    cap = 0
    cut = False

    def write(self, b):
        b = bytes(b)
        room = self.cap - self.tell()
        if _len(b) > room:
            self.cut = True
        if room > 0:
            super().write(b[:room])
        return _len(b)


def _text_stream(data=b"", cap=0):
    raw = _CappedBytes(data)
    raw.cap = cap
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", write_through=True)


_SOURCE = __SOURCE__
_ENTRY = __ENTRY__
_SETUP = __SETUP__
_TESTS = __TESTS__

try:
    _code = compile(_SOURCE, "solution.py", "exec")
except _BaseException as _e:
    _name, _msg = _describe(_e)
    if isinstance(_e, SyntaxError):
        _msg = "%s (line %s)" % (_e.msg, _e.lineno)
    _emit(kind="syntax_error", exc=_name, msg=_msg)
    raise _SystemExit(0)
del _SOURCE
_ns = {"__name__": "solution", "__builtins__": __builtins__}
if any(kind != "stdio" for kind, _, _ in _TESTS):
    try:
        _exec(_code, _ns)
    except _BaseException as _e:
        _name, _msg = _describe(_e)
        _emit(kind="definition_error", exc=_name, msg=_msg)
        raise _SystemExit(0)
    if _ENTRY is not None and not _callable(_ns.get(_ENTRY)):
        _emit(kind="missing_function")
        raise _SystemExit(0)
    if _SETUP is not None:
        try:
            _exec(_SETUP, _ns)
        except _BaseException as _e:
            _name, _msg = _describe(_e)
            _emit(kind="setup_error", exc=_name, msg=_msg)
            raise _SystemExit(0)
_emit(kind="ready")
for _i, (_kind, _payload, _cap) in _enumerate(_TESTS):
    try:
        if _kind == "call":
            _value = _repr(_ns[_ENTRY](*_eval(_payload, {"__builtins__": {}})))
            if _type(_value) is not _str:
                _value = "<repr did not return a string>"
            _emit(kind="result", i=_i, value=_value[:_cap], cut=_len(_value) > _cap)
        elif _kind == "stdio":
            _captured = _text_stream(cap=_cap)
            sys.stdin, sys.stdout = _text_stream(_payload.encode("utf-8")), _captured
            try:
                _exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
            except _SystemExit as _e:
                if _e.code not in (None, 0):
                    raise
            finally:
                sys.stdin, sys.stdout = _StringIO(""), sys.__stdout__
            _captured.flush()
            _raw = _captured.buffer
            _emit(kind="result", i=_i, output=_raw.getvalue().decode("utf-8", "replace"), cut=_raw.cut)
        else:
            _check_before = _ns.get("check")
            _exec(_payload, _ns)
            _check = _ns.get("check")
            if _kind == "script" and _ENTRY is not None and _check is not _check_before and _callable(_check):
                _check(_ns[_ENTRY])
            _emit(kind="result", i=_i, ok=True)
    except _BaseException as _e:
        _name, _msg = _describe(_e)
        _emit(kind="result", i=_i, exc=_name, msg=_msg)
_emit(kind="done")
"""


def value_cap(test: TestCase) -> int:
    """Most characters of a returned value's ``repr`` (``call``) or bytes of printed output (``stdio``) that the
    harness reports for ``test``: ``MAX_VALUE_CHARS`` plus 4 (2) times the expected value's length, so a correct
    answer is not cut however long the expected value is; a longer one is cut, judged wrong, and the feedback
    says why."""
    if test.kind == "call":
        return MAX_VALUE_CHARS + 4 * len(repr(test.expected))
    if test.kind == "stdio":
        return MAX_VALUE_CHARS + 2 * len((test.expected or "").encode("utf-8", "replace"))
    return 0


def build_harness(code: str, task: CodeTask) -> str:
    """The program run in the sandbox: the candidate ``code`` plus ``task``'s tests and test setup. Call tests
    carry only their arguments; expected values stay in the parent."""
    payloads = []
    for test in task.tests:
        if test.kind == "call":
            payloads.append(("call", repr(tuple(test.args or ())), value_cap(test)))
        elif test.kind == "stdio":
            payloads.append(("stdio", test.stdin or "", value_cap(test)))
        else:
            payloads.append((test.kind, test.source or "", 0))
    return (
        _HARNESS.replace("__SOURCE__", repr(code))
        .replace("__ENTRY__", repr(task.entry_point))
        .replace("__SETUP__", repr(task.setup))
        .replace("__TESTS__", repr(payloads))
    )


# ---------------------------------------------------------------------------------------------------- grading
def values_equal(actual: Any, expected: Any) -> bool:
    """Structural comparison of a returned value with the expected one: lists and tuples alike, floats within a
    relative tolerance of 1e-6 (ints and floats compare numerically), booleans only with booleans."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        if isinstance(actual, float) or isinstance(expected, float):
            if math.isnan(actual) or math.isnan(expected):
                return math.isnan(actual) and math.isnan(expected)
            return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9)
        return actual == expected
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(expected)
            and all(values_equal(a, e) for a, e in zip(actual, expected))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(values_equal(actual[k], expected[k]) for k in expected)
        )
    try:
        return type(actual) is type(expected) and bool(actual == expected)
    except Exception:
        return False


def _normalize_output(text: str) -> str:
    return "\n".join(line.rstrip() for line in str(text).strip("\n").splitlines()).rstrip()


def _parse_value(text: Any, cap: int) -> tuple[bool, Any]:
    """``ast.literal_eval`` of a reported repr (at most ``cap`` characters), as ``(ok, value)``."""
    if not isinstance(text, str) or len(text) > cap:
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


@dataclass
class GradeResult:
    """Outcome of grading one program: per-test ``outcomes`` (``"pass"``, ``"wrong"``, ``"error"``,
    ``"not_run"``), an ``error`` kind (None when all pass; else ``"syntax_error"``, ``"runtime_error"``,
    ``"missing_function"``, ``"timeout"``, ``"memory_error"``, ``"output_limit"``, ``"crashed"``,
    ``"wrong_answer"``, ``"sandbox_error"``) and the ``feedback`` text shown to the agent. ``details[i]`` has
    ``"cut": True`` when test i's value or output was longer than ``value_cap`` and was judged wrong unread."""

    outcomes: list[str]
    error: str | None
    feedback: str
    details: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def passed(self) -> int:
        return self.outcomes.count("pass")

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


def grade(code: str, task: CodeTask, *, timeout: float = 2.0, memory_mb: int | None = 512) -> GradeResult:
    """Run ``code`` against all of ``task``'s tests in one sandboxed execution and grade the results."""
    from mrlm_hf.sandbox import run_python

    nonce = secrets.token_hex(16)
    n = len(task.tests)
    result = run_python(
        build_harness(code, task),
        stdin=nonce + "\n",
        timeout=timeout,
        memory_mb=memory_mb,
        # JSON escapes at most 6 bytes per character (\\uXXXX)
        max_output_bytes=16_000 + sum(6 * value_cap(t) + 1_000 for t in task.tests),
    )
    records: list[dict[str, Any]] = []
    for line in result.stdout.splitlines():
        if nonce not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("nonce") == nonce:
            records.append(record)
    kinds = {r.get("kind") for r in records}
    by_index: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("kind") == "result" and isinstance(r.get("i"), int) and 0 <= r["i"] < n:
            by_index.setdefault(r["i"], r)

    outcomes, details = [], []
    for i, test in enumerate(task.tests):
        record = by_index.get(i)
        outcome, detail = _judge(test, record)
        outcomes.append(outcome)
        details.append(detail)

    stop_kinds = ("syntax_error", "definition_error", "missing_function", "setup_error")
    stop = next((r for r in records if r.get("kind") in stop_kinds), None)
    if all(o == "pass" for o in outcomes) and n:
        error = None
    elif stop is not None:
        error = {"syntax_error": "syntax_error", "missing_function": "missing_function"}.get(
            stop["kind"], "runtime_error"
        )
    elif result.timed_out:
        error = "timeout"
    elif result.output_truncated:
        error = "output_limit"
    elif result.memory_exceeded:
        error = "memory_error"
    elif result.error == "sandbox_error":
        error = "sandbox_error"
    elif "done" not in kinds:
        error = "crashed"
    elif "error" in outcomes:
        error = "runtime_error"
    else:
        error = "wrong_answer"
    feedback = _feedback(task, outcomes, details, error, stop, timeout)
    return GradeResult(outcomes=outcomes, error=error, feedback=feedback, details=details)


def _judge(test: TestCase, record: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if record is None:
        return "not_run", {}
    if "exc" in record:
        return "error", {"exc": str(record.get("exc"))[:100], "msg": str(record.get("msg", ""))[:300]}
    if record.get("cut"):
        return "wrong", {"cut": True, "limit": value_cap(test)}
    if test.kind == "call":
        ok, value = _parse_value(record.get("value"), value_cap(test))
        shown = str(record.get("value", ""))[:200]
        if ok and values_equal(value, test.expected):
            return "pass", {}
        return "wrong", {"value": shown}
    if test.kind == "stdio":
        output = str(record.get("output", ""))
        if _normalize_output(output) == _normalize_output(test.expected or ""):
            return "pass", {}
        return "wrong", {"output": output[:200]}
    return ("pass", {}) if record.get("ok") else ("wrong", {})


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_failure(task: CodeTask, i: int, outcome: str, detail: dict[str, Any]) -> str:
    test = task.tests[i]
    if detail.get("cut"):
        what = "returned a value whose repr is" if test.kind == "call" else "printed"
        label = "Hidden test" if test.hidden else "Test"
        return f"{label} {i + 1} failed: the program {what} longer than {detail['limit']} characters (not compared)."
    if test.hidden:
        if outcome == "error":
            return f"Hidden test {i + 1} failed: it raised {detail.get('exc')}."
        return f"Hidden test {i + 1} failed: wrong answer."
    if test.kind == "call":
        call = render_call(task.entry_point or "f", test.args or (), limit=200)
        if outcome == "error":
            return f"Test {i + 1} failed: {call} raised {detail.get('exc')}: {_short(detail.get('msg', ''))}"
        return f"Test {i + 1} failed: {call} returned {detail.get('value')}, expected {_short(repr(test.expected))}."
    if test.kind == "stdio":
        shown = _short(repr(test.stdin or ""), 120)
        if outcome == "error":
            return f"Test {i + 1} failed: with input {shown} the program raised {detail.get('exc')}: {_short(detail.get('msg', ''))}"
        return (
            f"Test {i + 1} failed: with input {shown} the program printed {_short(repr(detail.get('output', '')), 160)}, "
            f"expected {_short(repr(test.expected or ''), 160)}."
        )
    source = _short((test.source or "").strip(), 200)
    if outcome == "error":
        msg = detail.get("msg", "")
        return f"Test {i + 1} failed: `{source}` raised {detail.get('exc')}" + (f": {_short(msg)}" if msg else ".")
    return f"Test {i + 1} failed: `{source}`."


def _feedback(
    task: CodeTask,
    outcomes: list[str],
    details: list[dict[str, Any]],
    error: str | None,
    stop: dict[str, Any] | None,
    timeout: float,
) -> str:
    total, passed = len(outcomes), outcomes.count("pass")
    if error is None:
        return f"All {total} tests passed."
    if stop is not None:
        if stop["kind"] == "syntax_error":
            return f"Your code has a syntax error: {_short(str(stop.get('msg', '')), 300)}"
        if stop["kind"] == "missing_function":
            return f"Your code does not define a function named `{task.entry_point}`."
        if stop["kind"] == "setup_error":
            return f"The tests' setup code raised {stop.get('exc')}: {_short(str(stop.get('msg', '')), 300)}"
        return f"Running your code raised {stop.get('exc')}: {_short(str(stop.get('msg', '')), 300)}"
    lines = [f"Passed {passed}/{total} tests."]
    failing = [(i, o) for i, o in enumerate(outcomes) if o in ("wrong", "error")]
    for i, outcome in failing[:MAX_FEEDBACK_FAILURES]:
        lines.append(_describe_failure(task, i, outcome, details[i]))
    if len(failing) > MAX_FEEDBACK_FAILURES:
        lines.append(f"... and {len(failing) - MAX_FEEDBACK_FAILURES} more failing tests.")
    not_run = [i + 1 for i, o in enumerate(outcomes) if o == "not_run"]
    if not_run:
        reason = {
            "timeout": f"the program timed out after {timeout:g} s",
            "output_limit": "the program printed too much",
            "memory_error": "the program ran out of memory",
        }.get(error or "", "the program stopped early")
        which = f"Test {not_run[0]}" if len(not_run) == 1 else f"Tests {not_run[0]}-{not_run[-1]}"
        lines.append(f"{which} did not finish: {reason}.")
    return "\n".join(lines)


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
