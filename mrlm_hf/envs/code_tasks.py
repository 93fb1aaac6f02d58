"""Programming tasks for the ``code`` environment: a built-in set and loading tasks from a dataset.

A ``CodeTask`` is a prompt plus test cases. A test is one of four kinds:

* ``call``: call the entry-point function with ``args`` and compare the returned value with ``expected`` (in the
  parent process: the expected value never enters the sandbox, so hidden expected outputs cannot leak or be read
  by the candidate). Values are compared structurally: lists and tuples alike, floats with a relative tolerance
  of 1e-6, booleans strictly;
* ``assert``: a statement (usually ``assert f(1) == 2``) executed in the candidate's namespace; passes when it
  raises nothing;
* ``script``: a test script executed in the candidate's namespace; if it defines ``check`` and the task has an
  entry point, ``check(entry_point_function)`` is called (HumanEval style);
* ``stdio``: run the candidate's program with ``stdin`` as standard input and compare what it prints with
  ``expected`` (trailing whitespace on each line and trailing blank lines ignored).

The built-in set (``builtin_tasks()``, data in ``envs/data/code_tasks.jsonl``) holds 61 hand-written function
tasks at three difficulty levels (1: short loops and string handling, 2: classic small algorithms, 3: dynamic
programming, graphs and search). Each has a reference solution, three visible examples (shown in the prompt) and
several hidden tests whose expected values are computed from the reference solution.

``task_from_row`` builds a task from a dataset row and refuses, naming the row and the column, a row whose tests
could never fail (``_can_fail``: e.g. a ``check`` script without ``entry_point``, a list given as text, a bare
expression); ``stub_program`` is the do-nothing program ``CodeEnv(validate_tasks=True)`` runs them against.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mrlm_hf.envs.data import read_jsonl

__all__ = ["TASK_COLUMNS", "CodeTask", "TestCase", "builtin_tasks", "render_call", "stub_program", "task_from_row"]

TEST_KINDS = ("call", "assert", "script", "stdio")


@dataclass(frozen=True)
class TestCase:
    """One test of a ``CodeTask`` (see the module docstring for the kinds).

    ``args`` (``call``) is the tuple of positional arguments; ``expected`` is the return value (``call``) or the
    expected output text (``stdio``); ``source`` is the statement or script (``assert``/``script``); ``stdin``
    is the input text (``stdio``). ``hidden`` tests are not shown in the prompt and the feedback never shows
    their expected value.
    """

    __test__ = False  # not a pytest test class

    kind: str
    hidden: bool = False
    args: tuple[Any, ...] | None = None
    expected: Any = None
    source: str | None = None
    stdin: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in TEST_KINDS:
            raise ValueError(f"test kind must be one of {TEST_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class CodeTask:
    """A programming task: the text shown to the agent, the tests, and optionally a reference solution."""

    task_id: str
    prompt: str
    tests: tuple[TestCase, ...]
    entry_point: str | None = None
    solution: str | None = None
    difficulty: int | None = None
    signature: str | None = None
    examples: tuple[TestCase, ...] = field(default=(), repr=False)
    #: Code run in the candidate's namespace after its definitions and before the tests (MBPP ``test_imports`` and
    #: ``test_setup_code``), or None.
    setup: str | None = None
    #: Sandbox seconds for one attempt at this task (all tests together); None: the environment's ``timeout``.
    timeout: float | None = None

    @property
    def num_hidden(self) -> int:
        return sum(t.hidden for t in self.tests)


def render_call(entry_point: str, args: Sequence[Any], limit: int = 300) -> str:
    """``f(1, [2, 3])``: how a call test reads in prompts and feedback (truncated to ``limit`` characters)."""
    text = f"{entry_point}({', '.join(repr(a) for a in args)})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------- builtin
def _reference(solution: str, entry_point: str) -> Any:
    """The reference function of a built-in task (our own code, run in this process to compute hidden answers)."""
    namespace: dict[str, Any] = {"__name__": f"mrlm_code_task_{entry_point}"}
    exec(compile(solution, f"<builtin task {entry_point}>", "exec"), namespace)
    return namespace[entry_point]


def _builtin_prompt(signature: str, description: str, entry_point: str, examples: Sequence[TestCase], hidden: int):
    lines = [f"Write a Python function `{entry_point}`:", "", f"    {signature}", "", description, "", "Examples:"]
    lines += [f"    {render_call(entry_point, t.args or ())} == {t.expected!r}" for t in examples]
    lines += ["", f"Your code is checked on these {len(examples)} examples and {hidden} hidden tests."]
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def builtin_tasks() -> tuple[CodeTask, ...]:
    """The built-in tasks (``envs/data/code_tasks.jsonl``), in file order; hidden expected values are computed once
    from the reference solutions."""
    tasks = []
    for spec in read_jsonl("code_tasks.jsonl"):
        name, signature, description, solution = spec["name"], spec["signature"], spec["description"], spec["solution"]
        difficulty = spec["difficulty"]
        reference = _reference(solution, name)
        visible = tuple(
            TestCase("call", args=ast.literal_eval(ex["args"]), expected=ast.literal_eval(ex["expected"]))
            for ex in spec["examples"]
        )
        hidden = tuple(
            TestCase("call", hidden=True, args=args, expected=reference(*copy.deepcopy(args)))
            for args in map(ast.literal_eval, spec["hidden_args"])
        )
        tasks.append(
            CodeTask(
                task_id=f"code-{name}",
                prompt=_builtin_prompt(signature, description, name, visible, len(hidden)),
                tests=visible + hidden,
                entry_point=name,
                solution=solution,
                difficulty=difficulty,
                signature=signature,
                examples=visible,
            )
        )
    return tuple(tasks)


# ---------------------------------------------------------------------------------------------------- datasets
#: Columns of a task row that ``task_from_row`` reads (others are ignored; see ``CodeEnv`` for their meaning).
TASK_COLUMNS = (
    "prompt",
    "tests",
    "hidden_tests",
    "entry_point",
    "solution",
    "task_id",
    "test_imports",
    "test_setup_code",
    "timeout",
)
#: Column names of public datasets that hold what ``task_from_row`` expects under another name.
COLUMN_HINTS = {
    "test": "tests (HumanEval's check script)",
    "test_list": "tests (MBPP)",
    "challenge_test_list": "hidden_tests (MBPP)",
    "text": "prompt (MBPP 'full')",
    "code": "solution (MBPP)",
}
_HANDLERS_THAT_SWALLOW = {"AssertionError", "Exception", "BaseException"}


def _literal(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"{what} must be a Python literal, got {text[:200]!r} ({exc})") from None


def _decode_list(text: str) -> list[Any] | None:
    """The list held by a string such as ``'["assert f(1) == 1"]'`` (JSON or a Python literal), else None.

    Tests stored as the text of a list would otherwise run as a script that only builds the list and always
    passes."""
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        try:
            decoded = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return list(decoded) if isinstance(decoded, list) else None


def _snippet(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _parse_source(source: str, where: str) -> ast.Module:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        detail = f"{exc.msg}, line {exc.lineno}" if isinstance(exc, SyntaxError) else str(exc)
        raise ValueError(f"{where} is not valid Python ({type(exc).__name__}: {detail}): {_snippet(source)}") from None


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"``: false in the harness, which runs tests as the module ``solution``."""
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and {type(test.left), type(test.comparators[0])} == {ast.Name, ast.Constant}
        and {getattr(test.left, "id", None), getattr(test.comparators[0], "id", None)} >= {"__name__"}
        and "__main__" in (getattr(test.left, "value", None), getattr(test.comparators[0], "value", None))
    )


def _can_fail(tree: ast.Module, calls_check: bool) -> bool:
    """Whether running the test script ``tree`` executes an ``assert`` that depends on a name (not ``assert
    True``) or a ``raise`` that no ``except`` catching ``AssertionError`` swallows.

    Module-level code runs (not the body of ``if __name__ == "__main__":``); a function's body runs when a call
    to its name runs, and ``check`` runs when the harness calls it (``calls_check``). A conservative static
    reading: it refuses test scripts that can never fail, it cannot prove the others meaningful (for that, see
    ``CodeEnv(validate_tasks=True)``)."""
    queue: list[tuple[str, bool]] = [("check", True)] if calls_check else []
    found = False

    def scan(node: ast.AST | None, counts: bool) -> None:
        if node is None:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                queue.append((sub.func.id, counts))

    def visit(body: list[ast.stmt], counts: bool) -> None:
        nonlocal found
        for stmt in body:
            if found:
                return
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                for expr in [*stmt.decorator_list, *stmt.args.defaults, *stmt.args.kw_defaults]:
                    scan(expr, counts)
            elif isinstance(stmt, ast.ClassDef):
                for expr in [*stmt.decorator_list, *stmt.bases]:
                    scan(expr, counts)
                visit(stmt.body, counts)
            elif isinstance(stmt, ast.Assert):
                if counts and any(isinstance(n, ast.Name) for n in ast.walk(stmt.test)):
                    found = True
                else:
                    scan(stmt, counts)
            elif isinstance(stmt, ast.Raise):
                found = found or counts
                scan(stmt, counts)
            elif isinstance(stmt, ast.If):
                scan(stmt.test, counts)
                constant = stmt.test.value if isinstance(stmt.test, ast.Constant) else None
                if not (_is_main_guard(stmt.test) or (isinstance(stmt.test, ast.Constant) and not constant)):
                    visit(stmt.body, counts)
                if not (isinstance(stmt.test, ast.Constant) and constant):
                    visit(stmt.orelse, counts)
            elif isinstance(stmt, ast.Try | getattr(ast, "TryStar", ast.Try)):
                swallow = any(
                    h.type is None
                    or any(isinstance(n, ast.Name) and n.id in _HANDLERS_THAT_SWALLOW for n in ast.walk(h.type))
                    for h in stmt.handlers
                )
                visit(stmt.body, counts and not swallow)
                for handler in stmt.handlers:
                    visit(handler.body, counts)
                visit(stmt.orelse, counts)
                visit(stmt.finalbody, counts)
            else:
                inner = [getattr(stmt, name, None) for name in ("body", "orelse", "finalbody")]
                if isinstance(stmt, ast.Match):
                    inner += [case.body for case in stmt.cases]
                blocks = [b for b in inner if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]
                if blocks:  # for, while, with, match: their header expressions, then their blocks
                    for name in ("iter", "test", "subject"):
                        scan(getattr(stmt, name, None), counts)
                    for item in getattr(stmt, "items", ()):
                        scan(item, counts)
                    for block in blocks:
                        visit(block, counts)
                else:
                    scan(stmt, counts)

    visit(tree.body, True)
    if found:
        return True
    functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.setdefault(node.name, []).append(node)
    seen: set[tuple[str, bool]] = set()
    while queue and not found:
        key = queue.pop()
        if key in seen:
            continue
        seen.add(key)
        for function in functions.get(key[0], ()):
            visit(function.body, key[1])
    return found


def _check_test_can_fail(test: TestCase, entry_point: str | None, where: str) -> None:
    """Refuse an ``assert`` or ``script`` test that would be executed but can never fail (see ``_can_fail``)."""
    if test.kind not in ("assert", "script"):
        return  # call and stdio tests compare with an expected value: a wrong program fails them
    source = test.source or ""
    tree = _parse_source(source, where)
    defines_check = any(isinstance(s, ast.FunctionDef) and s.name == "check" for s in tree.body)
    calls_check = test.kind == "script" and defines_check and entry_point is not None
    if _can_fail(tree, calls_check):
        return
    if defines_check and test.kind == "script" and entry_point is None:
        reason = (
            "it defines check(candidate) but the row has no 'entry_point', so check is never called; set "
            "entry_point to the name of the function that check tests"
        )
    elif defines_check and test.kind == "assert":
        reason = "it defines check(candidate) inside a list of tests; give the script as one string, not a list"
    elif len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        reason = "it is an expression whose value is ignored; write it as an assert statement (`assert ...`)"
    else:
        reason = (
            "no assert that depends on the program and no raise is ever executed (a function's asserts run only "
            "if it is called, `if __name__ == '__main__':` blocks do not run, `except AssertionError` swallows)"
        )
    raise ValueError(f"{where} can never fail: {reason}. The test is {_snippet(source)}")


def _parse_tests(value: Any, hidden: bool, entry_point: str | None, where: str) -> list[TestCase]:
    """Tests of one dataset cell: a script string, or a list of assert strings / input-output / args-expected
    (also given as the JSON or Python text of such a list). Every test is checked to be able to fail."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        decoded = _decode_list(value)
        if decoded is None:
            test = TestCase("script", hidden=hidden, source=value)
            _check_test_can_fail(test, entry_point, f"{where}: the test script")
            return [test]
        value = decoded
    if isinstance(value, bytes | bytearray) or not isinstance(value, Sequence):
        raise ValueError(f"{where}: tests must be a string or a list, got {type(value).__name__}")
    tests = []
    for k, item in enumerate(value):
        at = f"{where}: test {k}"
        if isinstance(item, str):
            if not item.strip():
                raise ValueError(f"{at} is an empty string")
            test = TestCase("assert", hidden=hidden, source=item)
            _check_test_can_fail(test, entry_point, at)
        elif isinstance(item, Mapping) and item.get("input") is not None:
            if not isinstance(item["input"], str) or not isinstance(item.get("output"), str | None):
                raise ValueError(f"{at}: 'input' and 'output' must be strings, got {str(item)[:200]!r}")
            test = TestCase("stdio", hidden=hidden, stdin=item["input"], expected=item.get("output") or "")
        elif isinstance(item, Mapping) and item.get("args") is not None:
            if not entry_point:
                raise ValueError(f"{at}: args/expected tests need an entry_point")
            args = _literal(item["args"], f"{at}: args")
            if not isinstance(args, list | tuple):
                raise ValueError(f"{at}: args must be a list or tuple literal of positional arguments")
            test = TestCase(
                "call", hidden=hidden, args=tuple(args), expected=_literal(item.get("expected"), f"{at}: expected")
            )
        else:
            raise ValueError(
                f"{at}: a test must be an assert string, {{'input', 'output'}} or {{'args', 'expected'}}, "
                f"got {type(item).__name__} {str(item)[:200]!r}"
            )
        tests.append(test)
    return tests


def _parse_setup(row: Mapping[str, Any], where: str) -> str | None:
    """The row's test setup: MBPP's ``test_imports`` (a list of import statements) then ``test_setup_code``."""
    parts: list[str] = []
    imports = row.get("test_imports")
    if isinstance(imports, str):
        decoded = _decode_list(imports)
        imports = decoded if decoded is not None else [imports]
    if imports is not None:
        if isinstance(imports, bytes | bytearray) or not isinstance(imports, Sequence):
            raise ValueError(f"{where}, column 'test_imports': must be a list of strings, got {type(imports).__name__}")
        for k, line in enumerate(imports):
            if not isinstance(line, str):
                raise ValueError(f"{where}, column 'test_imports': item {k} is {type(line).__name__}, not a string")
            parts.append(line)
    code = row.get("test_setup_code")
    if code is not None and not isinstance(code, str):
        raise ValueError(f"{where}, column 'test_setup_code': must be a string, got {type(code).__name__}")
    if code:
        parts.append(code)
    setup = "\n".join(p for p in parts if p.strip())
    if not setup:
        return None
    _parse_source(setup, f"{where}, columns 'test_imports'/'test_setup_code': the test setup")
    return setup


def _parse_timeout(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}, column 'timeout': must be a positive finite number of seconds, got {value!r}")
    return float(value)


def task_from_row(row: Mapping[str, Any], index: int) -> CodeTask:
    """Build a ``CodeTask`` from one dataset row (columns in ``TASK_COLUMNS``, documented in ``CodeEnv``).

    Raises ``ValueError`` naming the row, the column and the test for a row that cannot be graded truthfully:
    no prompt, no tests, a test that is not a string / pair, a test that can never fail (``_can_fail``), test
    setup that does not parse, a bad timeout."""
    where = f"dataset row {index}"
    if not isinstance(row, Mapping):
        raise ValueError(f"{where}: a row must be a mapping of column names to values, got {type(row).__name__}")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}, column 'prompt': must be a non-empty string, got {str(prompt)[:100]!r}")
    entry_point = row.get("entry_point") or None
    if entry_point is not None and (not isinstance(entry_point, str) or not entry_point.isidentifier()):
        raise ValueError(f"{where}, column 'entry_point': must be a Python identifier, got {entry_point!r}")
    tests = _parse_tests(row.get("tests"), False, entry_point, f"{where}, column 'tests'")
    tests += _parse_tests(row.get("hidden_tests"), True, entry_point, f"{where}, column 'hidden_tests'")
    if not tests:
        renamed = [f"'{c}' -> {COLUMN_HINTS[c]}" for c in COLUMN_HINTS if c in row]
        hint = f" (rename columns: {', '.join(renamed)})" if renamed else ""
        raise ValueError(
            f"{where}: the task has no tests: columns 'tests' and 'hidden_tests' are missing or empty{hint}"
        )
    solution = row.get("solution") or None
    if solution is not None and not isinstance(solution, str):
        raise ValueError(f"{where}, column 'solution': must be a string, got {type(solution).__name__}")
    task_id = row.get("task_id")
    return CodeTask(
        task_id=str(task_id) if task_id not in (None, "") else f"code-data-{index}",
        prompt=prompt,
        tests=tuple(tests),
        entry_point=entry_point,
        solution=solution,
        setup=_parse_setup(row, where),
        timeout=_parse_timeout(row.get("timeout"), where),
    )


def stub_program(task: CodeTask) -> str:
    """A program that does nothing: every function the tests call but do not define (and the entry point)
    returns None. Tests that pass on it cannot tell a solution from no solution (``CodeEnv(validate_tasks=True)``)."""
    called: set[str] = set()
    defined: set[str] = set()
    for source in [t.source for t in task.tests if t.source] + ([task.setup] if task.setup else []):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.add(node.func.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.alias):
                defined.add((node.asname or node.name).split(".")[0])
    names = {n for n in called - defined if not hasattr(builtins, n)} | (
        {task.entry_point} if task.entry_point else set()
    )
    return "".join(f"def {name}(*args, **kwargs):\n    return None\n" for name in sorted(names)) or "pass\n"
