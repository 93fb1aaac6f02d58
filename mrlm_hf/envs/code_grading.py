"""Grading for the ``code`` environment: the test harness run in the sandbox, the comparison of results with the
expected values, and the feedback text.

Grading runs the candidate and all tests in ONE sandboxed execution (``mrlm_hf.sandbox.run_python``): a harness
compiles the candidate, runs each test independently (catching every exception, ``SystemExit`` included) and
prints one JSON line per test, tagged with a random nonce that the harness reads from stdin, so the candidate
cannot forge results by printing. The candidate's own prints go to ``/dev/null``. Expected values of ``call``
tests are compared in the parent: they never enter the sandbox. A timeout or crash keeps the results of the tests
that finished; the rest fail.
"""

from __future__ import annotations

import ast
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from mrlm_hf.envs.code_tasks import CodeTask, TestCase, render_call

__all__ = [
    "MAX_FEEDBACK_FAILURES",
    "MAX_VALUE_CHARS",
    "GradeResult",
    "build_harness",
    "grade",
    "value_cap",
    "values_equal",
]

#: Characters of a returned value's ``repr`` (or printed output) the harness reports beyond the expected value's
#: own length (``value_cap``); longer values are cut, count as wrong, and the feedback says so.
MAX_VALUE_CHARS = 20_000
#: Most failing tests listed in the feedback.
MAX_FEEDBACK_FAILURES = 5


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
