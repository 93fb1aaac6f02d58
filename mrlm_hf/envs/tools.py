"""Tool use: solve a task by calling tools (calculator, memory, files, python) and then answering.

Each action is one JSON object, either a tool call or a final answer::

    {"tool": "calculator", "arguments": {"expression": "48213*9127"}}
    {"answer": "440040051"}

Also accepted, as chat templates emit them: ``{"name": ..., "arguments": ...}`` (``"parameters"`` for
``"arguments"``, and ``"arguments"`` given as a JSON string), OpenAI's ``{"function": {"name": ..., "arguments":
...}}``, the same object wrapped in ``<tool_call>...</tool_call>`` (Qwen/Hermes style; the closing tag may be
missing, and ``</tool_call>`` is a stop string, so a model stops after its first call), a ```` ```json ```` fence,
a JSON object inside prose, and ``Final answer: ...`` for the answer. Tool results come back as plain-text
observations (``"calculator: 440040051"``), i.e. ordinary user turns, not the template's ``tool`` role.

Tools:

* ``calculator`` ``{"expression": str}``: exact arithmetic over numbers with ``+ - * / // % **``, unary signs
  and parentheses, evaluated by walking the ``ast`` (never ``eval``) with bounded exponents and result sizes.
* ``memory`` ``{"op": "set"|"get"|"list", "key": str, "value": str}``: a key-value store (size-capped).
* ``files`` ``{"op": "read"|"write"|"list", "path": str, "content": str}``: files in a private temporary
  workspace; absolute paths, ``..`` and symlinks are refused and sizes are capped. The directory is deleted on the
  next ``reset``, on ``close()`` and when the environment is garbage-collected.
* ``python`` ``{"code": str}``: runs code through ``mrlm_hf.sandbox.run_python`` (imported lazily, so this module
  imports without it) and returns stdout, plus the exit code and stderr on failure. The sandbox is separate from
  the workspace and the memory. If the sandbox is missing or fails, the call returns a tool error.

Tasks (seeded, ``difficulty`` 1-5 scales sizes): ``calculator`` (arithmetic too large for mental math),
``memory`` (look up a stored value, add stored numbers, or store a value then report it), ``file`` (sum or maximum
of the numbers in a workspace file) and ``python`` (prime counts, digit sums of large powers, Collatz lengths).

Reward: a correct answer ends the episode with +1.0; a wrong answer ends it with 0.0. Every tool call costs
``tool_cost`` (0.02) and every malformed action or unknown tool ``format_penalty`` (0.05); these costs are
capped at ``penalty_cap`` (0.5) per episode, so a correct answer always returns at least 0.5 and calling tools
never earns anything.

The tools themselves (calculator, workspace) live in ``mrlm_hf.envs.tool_backends``. This module stays above ~500
lines because the action parser (tool-call JSON in several accepted shapes) and the four task generators with their
experts belong to this environment's protocol and are read together with it.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import re
from typing import Any

from mrlm_hf.envs.base import TextEnv
from mrlm_hf.envs.registry import register_env
from mrlm_hf.envs.tool_backends import CalculatorError, ToolError, Workspace, format_number, safe_eval

TOOL_NAMES = ("calculator", "memory", "files", "python")
TASK_KINDS = ("calculator", "memory", "file", "python")

# ---------------------------------------------------------------------------------------------------- parsing
_FINAL_RE = re.compile(r"final\s+answer\s*[:=]", re.IGNORECASE)
_DECODER = json.JSONDecoder()


class ParseError(ValueError):
    """The action is neither a tool call nor an answer; ``kind`` is the ``info['error']`` value."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _first_json_object(text: str, max_tries: int = 16) -> Any:
    """The first ``{...}`` in ``text`` that parses (trying at most ``max_tries`` opening braces, to bound time)."""
    start = text.find("{")
    while start != -1 and max_tries > 0:
        max_tries -= 1
        try:
            value, _ = _DECODER.raw_decode(text, start)
            return value
        except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and huge ints
            start = text.find("{", start + 1)
    raise ParseError("bad_json", "the JSON object could not be parsed")


def _from_object(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ParseError("bad_call", "the action must be a JSON object")
    if "answer" in obj:
        answer = obj["answer"]
        if isinstance(answer, (dict, list)):
            answer = json.dumps(answer)
        return {"answer": "" if answer is None else str(answer)}
    if isinstance(obj.get("function"), dict):  # OpenAI style
        obj = obj["function"]
    name = obj.get("tool", obj.get("name"))
    if not isinstance(name, str) or not name.strip():
        raise ParseError("bad_call", 'a tool call needs "tool" (the tool name) and "arguments" (an object)')
    arguments = obj.get("arguments", obj.get("parameters", obj.get("args", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and huge ints
            raise ParseError("bad_json", '"arguments" is a string that is not valid JSON') from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ParseError("bad_call", '"arguments" must be a JSON object')
    return {"tool": name.strip().lower(), "arguments": arguments}


def _strip_fence(text: str) -> str:
    """The inside of a ```` ```json ... ``` ```` fence (plain string operations: no regex backtracking)."""
    if len(text) >= 6 and text.startswith("```") and text.endswith("```"):
        inner = text[3:-3]
        i = 0
        while i < len(inner) and inner[i].isalpha():
            i += 1
        return inner[i:].strip()
    return text


def _tool_call_body(text: str) -> str | None:
    """What follows the first ``<tool_call>`` up to ``</tool_call>`` (or the end), or ``None`` without the tag."""
    lowered = text.lower()
    start = lowered.find("<tool_call>")
    if start == -1:
        return None
    start += len("<tool_call>")
    end = lowered.find("</tool_call>", start)
    return text[start : end if end != -1 else len(text)].strip()


def parse_action(text: str) -> dict[str, Any]:
    """Parse an action into ``{"tool": name, "arguments": {...}}`` or ``{"answer": str}``; raise ``ParseError``."""
    stripped = text.strip()
    if not stripped:
        raise ParseError("empty", "the action is empty")
    body = _tool_call_body(stripped)
    if body is not None:
        return _from_object(_first_json_object(_strip_fence(body)))
    candidate = _strip_fence(stripped)
    # The last "Final answer:" wins; its answer is the rest of its line.
    last = collections.deque(_FINAL_RE.finditer(stripped), maxlen=1)
    final = stripped[last[0].end() :].strip().split("\n", 1)[0].strip() if last else None
    if candidate.startswith("{"):
        try:
            value, _ = _DECODER.raw_decode(candidate)
        except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and huge ints
            if final is None:
                raise ParseError("bad_json", "the JSON object could not be parsed") from None
        else:
            return _from_object(value)
    if final is not None:
        return {"answer": final}
    if "{" in stripped:
        return _from_object(_first_json_object(stripped))
    raise ParseError("no_action", "no tool call or answer found")


def _normalize_answer(text: str) -> str:
    text = text.strip().strip("`").rstrip(".").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text.rstrip(".").strip().lower()


def _as_number(text: str) -> float | int | None:
    cleaned = text.replace(",", "").replace("_", "")
    if len(cleaned) > 1_000:  # beyond any task's answer (and int() refuses > 4300 digits)
        return None
    if re.fullmatch(r"[+-]?\d+", cleaned):
        return int(cleaned)
    if re.fullmatch(r"[+-]?\d+\.\d*", cleaned):
        value = float(cleaned)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return None


def answers_match(given: str, expected: str) -> bool:
    """Exact match after trimming quotes, a trailing period and case; numbers compare by value ("1,234" == "1234")."""
    given_n, expected_n = _normalize_answer(given), _normalize_answer(expected)
    if given_n == expected_n:
        return True
    a, b = _as_number(given_n), _as_number(expected_n)
    return a is not None and b is not None and a == b


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool, "arguments": arguments}


def _signature(call: dict[str, Any]) -> str:
    return json.dumps(call, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------------------- tasks
_WORDS = (
    "amber", "birch", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "kelp", "lumen",
    "maple", "nectar", "onyx", "pepper", "quartz", "raven", "sage", "tundra", "umber", "violet", "willow", "zephyr",
)  # fmt: skip
_FILE_NAMES = ("notes.txt", "numbers.txt", "data.txt", "log.txt", "values.txt")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _count_primes_below(n: int) -> int:
    sieve = bytearray([1]) * n
    sieve[:2] = bytearray(min(2, n))
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


def _collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


class ToolUseEnv(TextEnv):
    """Solve seeded tasks with tools; see the module docstring for the action format, tools and rewards.

    ``tasks`` restricts the task kinds drawn (default: all of ``TASK_KINDS``); ``reset(options={"kind": k})``
    forces one. ``python_timeout`` is the sandbox's wall-clock limit per call (seconds)."""

    name = "tools"
    stop_strings = ("</tool_call>",)
    system_prompt = (
        "Solve the task using tools. Each turn, reply with exactly one JSON object: a tool call "
        '{"tool": NAME, "arguments": {...}} or your final answer {"answer": "..."}.\n'
        "Tools:\n"
        '- calculator {"expression": "12*(3+4)"}: exact arithmetic with + - * / // % ** and parentheses.\n'
        '- memory {"op": "set"|"get"|"list", "key": "...", "value": "..."}: a key-value store.\n'
        '- files {"op": "read"|"write"|"list", "path": "...", "content": "..."}: files in your workspace.\n'
        '- python {"code": "..."}: run Python code in a sandbox and see what it prints.\n'
        "Each tool call costs a little; a wrong answer ends the task."
    )

    def __init__(
        self,
        difficulty: int = 1,
        max_turns: int = 8,
        tasks: list[str] | tuple[str, ...] | None = None,
        tool_cost: float = 0.02,
        format_penalty: float = 0.05,
        penalty_cap: float = 0.5,
        python_timeout: float = 2.0,
    ) -> None:
        super().__init__(max_turns=max_turns)
        if not 1 <= int(difficulty) <= 5:
            raise ValueError(f"difficulty must be in 1..5, got {difficulty}")
        kinds = tuple(tasks) if tasks is not None else TASK_KINDS
        unknown = [k for k in kinds if k not in TASK_KINDS]
        if not kinds or unknown:
            raise ValueError(f"tasks must be a non-empty subset of {TASK_KINDS}, got {list(kinds)}")
        if not (0 <= tool_cost and 0 <= format_penalty and 0 <= penalty_cap < 1):
            raise ValueError("tool_cost and format_penalty must be >= 0 and penalty_cap in [0, 1)")
        self.difficulty = int(difficulty)
        self.tasks = kinds
        self.tool_cost = float(tool_cost)
        self.format_penalty = float(format_penalty)
        self.penalty_cap = float(penalty_cap)
        self.python_timeout = float(python_timeout)
        self._workspace: Workspace | None = None
        self.memory: dict[str, str] = {}
        self._kind = ""
        self._answer = ""
        self._plan: list[dict[str, Any]] = []
        self._calls_made: set[str] = set()
        self._penalty_total = 0.0
        self._solved = False
        self._task_id = ""

    @property
    def config(self) -> dict[str, Any]:
        return {
            "difficulty": self.difficulty,
            "max_turns": self.max_turns,
            "tasks": list(self.tasks),
            "tool_cost": self.tool_cost,
            "format_penalty": self.format_penalty,
            "penalty_cap": self.penalty_cap,
            "python_timeout": self.python_timeout,
        }

    # ------------------------------------------------------------------ lifecycle
    @property
    def workspace(self) -> Workspace:
        """This episode's file store (created on first use)."""
        if self._workspace is None or not self._workspace.alive:
            self._workspace = Workspace()
        return self._workspace

    def close(self) -> None:
        """Delete the workspace directory. The environment can still be reset and used afterwards."""
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ task generation
    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.close()
        self.memory = {}
        self._calls_made = set()
        self._penalty_total = 0.0
        self._solved = False
        kind = options.get("kind") or self.rng.choice(self.tasks)
        if kind not in TASK_KINDS:
            raise ValueError(f"Unknown task kind {kind!r}; choose one of {TASK_KINDS}.")
        self._kind = kind
        text, self._answer, self._plan, files = getattr(self, f"_task_{kind}")()
        for path, content in files.items():
            self.workspace.write(path, content)
        digest = hashlib.sha1(json.dumps([text, sorted(self.memory.items()), files], sort_keys=True).encode())
        self._task_id = f"tools-{kind}-{digest.hexdigest()[:12]}"
        info = {"task_id": self._task_id, "task_kind": kind, "parsed_action": None, "error": None, "success": False}
        return text, info

    def _task_calculator(self) -> tuple[str, str, list[dict[str, Any]], dict[str, str]]:
        d = self.difficulty
        digits, terms = 3 + d, 2 + d // 2
        numbers = [self.rng.randint(10 ** (digits - 1), 10**digits - 1) for _ in range(terms)]
        ops = [self.rng.choice(["+", "-", "*", "*"]) for _ in range(terms - 1)]
        if "*" not in ops:
            ops[self.rng.randrange(len(ops))] = "*"
        pieces = [str(numbers[0])]
        for op, number in zip(ops, numbers[1:]):
            pieces += [op, str(number)]
        if d >= 3 and terms >= 3:
            pieces = ["(", *pieces[:3], ")", *pieces[3:]]
        expression = " ".join(pieces).replace("( ", "(").replace(" )", ")")
        answer = format_number(safe_eval(expression))
        text = f"Compute {expression} exactly. Give the exact integer as your answer."
        return text, answer, [_call("calculator", expression=expression)], {}

    def _random_code(self) -> str:
        return "".join(self.rng.choice(_CODE_ALPHABET) for _ in range(5))

    def _random_keys(self, count: int) -> list[str]:
        keys: list[str] = []
        while len(keys) < count:
            key = f"{self.rng.choice(_WORDS)}-{self.rng.randint(1, 99)}"
            if key not in keys:
                keys.append(key)
        return keys

    def _task_memory(self) -> tuple[str, str, list[dict[str, Any]], dict[str, str]]:
        d = self.difficulty
        variants = ["lookup", "store"] + (["sum", "sum"] if d >= 2 else [])
        variant = self.rng.choice(variants)
        keys = self._random_keys(2 + 2 * d)
        if variant == "store":
            key, value = keys[0], self._random_code()
            text = (
                f"Save the value {value} in memory under the key '{key}', then answer with the value stored "
                f"under '{key}'. The answer only counts if the value is in memory."
            )
            return text, value, [_call("memory", op="set", key=key, value=value)], {}
        if variant == "lookup":
            self.memory = {key: self._random_code() for key in keys}
            key = self.rng.choice(keys)
            text = f"The memory holds a value under the key '{key}'. Report that value."
            return text, self.memory[key], [_call("memory", op="get", key=key)], {}
        self.memory = {key: str(self.rng.randint(10 ** (d + 1), 10 ** (d + 2) - 1)) for key in keys}
        chosen = self.rng.sample(keys, 2 if d < 4 else 3)
        total = sum(int(self.memory[k]) for k in chosen)
        names = ", ".join(f"'{k}'" for k in chosen[:-1]) + f" and '{chosen[-1]}'"
        text = f"The memory holds numbers. Report the sum of the values under the keys {names}."
        plan = [_call("memory", op="get", key=k) for k in chosen]
        plan.append(_call("calculator", expression=" + ".join(self.memory[k] for k in chosen)))
        return text, str(total), plan, {}

    def _task_file(self) -> tuple[str, str, list[dict[str, Any]], dict[str, str]]:
        d = self.difficulty
        count, high = 3 + 2 * d, 10 ** (1 + d)
        low = -high if d >= 2 else 1
        numbers = [self.rng.randint(low, high) for _ in range(count)]
        name = self.rng.choice(_FILE_NAMES)
        path = f"data/{name}" if d >= 3 and self.rng.random() < 0.5 else name
        files = {path: "\n".join(map(str, numbers)) + "\n"}
        if d >= 2:  # distractors
            for other in self.rng.sample([n for n in _FILE_NAMES if n != name], min(d - 1, 3)):
                files[other] = "\n".join(str(self.rng.randint(low, high)) for _ in range(count)) + "\n"
        if self.rng.random() < 0.7:
            expression = str(numbers[0]) + "".join(f" - {-n}" if n < 0 else f" + {n}" for n in numbers[1:])
            text = f"The file {path} in your workspace holds numbers, one per line. Report their sum."
            plan = [_call("files", op="read", path=path), _call("calculator", expression=expression)]
            return text, str(sum(numbers)), plan, files
        text = f"The file {path} in your workspace holds numbers, one per line. Report the largest of them."
        return text, str(max(numbers)), [_call("files", op="read", path=path)], files

    def _task_python(self) -> tuple[str, str, list[dict[str, Any]], dict[str, str]]:
        d = self.difficulty
        variant = self.rng.choice(["primes", "digit_sum", "collatz"])
        if variant == "primes":
            n = self.rng.randint(1_000, 10_000 * d)
            text = f"How many prime numbers are there below {n}?"
            code = (
                f"n = {n}\nsieve = [True] * n\nsieve[0:2] = [False, False]\n"
                "for i in range(2, int(n ** 0.5) + 1):\n"
                "    if sieve[i]:\n        sieve[i*i::i] = [False] * len(range(i*i, n, i))\n"
                "print(sum(sieve))"
            )
            answer = _count_primes_below(n)
        elif variant == "digit_sum":
            base, exponent = self.rng.randint(2, 9), self.rng.randint(70, 100 + 100 * d)
            text = f"What is the sum of the decimal digits of {base}**{exponent}?"
            code = f"print(sum(int(c) for c in str({base} ** {exponent})))"
            answer = sum(int(c) for c in str(base**exponent))
        else:
            n = self.rng.randint(100, 1_000 * d)
            text = f"Starting from {n}, repeatedly halve even numbers and map odd x to 3x+1. How many steps to reach 1?"
            code = (
                f"n, steps = {n}, 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
                "    steps += 1\nprint(steps)"
            )
            answer = _collatz_steps(n)
        return text, str(answer), [_call("python", code=code)], {}

    # ------------------------------------------------------------------ tools
    def _run_calculator(self, arguments: dict[str, Any]) -> str:
        expression = arguments.get("expression", arguments.get("expr"))
        if not isinstance(expression, str):
            if isinstance(expression, (int, float)) and not isinstance(expression, bool):
                expression = repr(expression)
            else:
                raise ToolError('calculator needs {"expression": "<arithmetic>"}')
        try:
            return format_number(safe_eval(expression))
        except CalculatorError as exc:
            raise ToolError(str(exc)) from None

    MEMORY_MAX_KEYS = 100
    MEMORY_MAX_KEY_CHARS = 100
    MEMORY_MAX_VALUE_CHARS = 2_000

    def _run_memory(self, arguments: dict[str, Any]) -> str:
        op = str(arguments.get("op", arguments.get("action", ""))).strip().lower()
        if op == "list":
            return "keys: " + ", ".join(sorted(self.memory)) if self.memory else "memory is empty"
        key = arguments.get("key")
        if not isinstance(key, str) or not key or len(key) > self.MEMORY_MAX_KEY_CHARS:
            raise ToolError(f'memory needs "key": a string of 1-{self.MEMORY_MAX_KEY_CHARS} characters')
        if op == "get":
            if key not in self.memory:
                raise ToolError(f"no key '{key}'")
            return self.memory[key]
        if op == "set":
            value = arguments.get("value")
            value = value if isinstance(value, str) else json.dumps(value)
            if len(value) > self.MEMORY_MAX_VALUE_CHARS:
                raise ToolError(f"value too long (at most {self.MEMORY_MAX_VALUE_CHARS} characters)")
            if key not in self.memory and len(self.memory) >= self.MEMORY_MAX_KEYS:
                raise ToolError(f"memory full (at most {self.MEMORY_MAX_KEYS} keys)")
            self.memory[key] = value
            return f"stored '{key}'"
        raise ToolError('memory "op" must be "set", "get" or "list"')

    def _run_files(self, arguments: dict[str, Any]) -> str:
        op = str(arguments.get("op", arguments.get("action", ""))).strip().lower()
        if op == "list":
            listing = self.workspace.files()
            return "\n".join(f"{path} ({size} bytes)" for path, size in listing) if listing else "no files"
        if op == "read":
            content = self.workspace.read(arguments.get("path"))
            return content if len(content) <= 4_000 else content[:4_000] + "\n... (truncated)"
        if op == "write":
            size = self.workspace.write(arguments.get("path"), arguments.get("content", ""))
            return f"wrote {size} bytes to {arguments.get('path')}"
        raise ToolError('files "op" must be "read", "write" or "list"')

    def _run_python(self, arguments: dict[str, Any]) -> str:
        code = arguments.get("code")
        if not isinstance(code, str) or not code.strip():
            raise ToolError('python needs {"code": "<python source>"}')
        try:
            from mrlm_hf.sandbox import SandboxUnavailableError, run_python
        except ImportError as exc:
            raise ToolError(f"the python sandbox is unavailable ({exc})") from None
        try:
            result = run_python(code, timeout=self.python_timeout)
        except SandboxUnavailableError:
            raise  # no isolation on this machine: the user must act, it is not the agent's tool error
        except Exception as exc:  # a sandbox failure is a tool error, never an environment crash
            raise ToolError(f"the python sandbox failed ({type(exc).__name__})") from None
        if getattr(result, "timed_out", False):
            return f"timed out after {self.python_timeout:g}s"
        stdout, stderr = _text(result.stdout), _text(result.stderr)
        text = stdout.rstrip("\n")
        returncode = getattr(result, "returncode", 0)
        if returncode != 0:
            text = f"{text}\n[exit code {returncode}]\n{stderr[-1_000:]}".strip()
        text = text if text else "(no output; use print)"
        return text if len(text) <= 4_000 else text[:4_000] + "\n... (truncated)"

    # ------------------------------------------------------------------ stepping
    def _penalty(self, amount: float) -> float:
        charged = min(amount, max(0.0, self.penalty_cap - self._penalty_total))
        self._penalty_total += charged
        return -charged

    def _info(self, parsed: Any, error: str | None) -> dict[str, Any]:
        return {
            "task_id": self._task_id,
            "task_kind": self._kind,
            "parsed_action": parsed,
            "error": error,
            "success": self._solved,
        }

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        try:
            parsed = parse_action(action)
        except ParseError as exc:
            obs = (
                f"Invalid action: {exc}. Reply with one JSON object: "
                '{"tool": "<name>", "arguments": {...}} or {"answer": "..."}. Tools: ' + ", ".join(TOOL_NAMES) + "."
            )
            return obs, self._penalty(self.format_penalty), False, self._info(None, exc.kind)
        if "answer" in parsed:
            return self._finish(parsed)
        tool, arguments = parsed["tool"], parsed["arguments"]
        if tool not in TOOL_NAMES:
            obs = f"Unknown tool '{tool[:50]}'. Available tools: " + ", ".join(TOOL_NAMES) + "."
            return obs, self._penalty(self.format_penalty), False, self._info(parsed, "unknown_tool")
        self._calls_made.add(_signature(parsed))
        error = None
        try:
            result = getattr(self, f"_run_{tool}")(arguments)
        except ToolError as exc:
            result, error = f"error: {exc}", "tool_error"
        except OSError as exc:
            result, error = f"error: {type(exc).__name__}", "tool_error"
        return f"{tool}: {result}".rstrip(), self._penalty(self.tool_cost), False, self._info(parsed, error)

    def _finish(self, parsed: dict[str, Any]) -> tuple[str, float, bool, dict[str, Any]]:
        correct = answers_match(parsed["answer"], self._answer)
        stored = all(self.memory.get(c["arguments"]["key"]) == c["arguments"]["value"] for c in self._store_steps())
        if correct and stored:
            self._solved = True
            return "Correct.", 1.0, True, self._info(parsed, None)
        error = "wrong_answer" if not correct else "not_stored"
        return f"Wrong. The answer was {self._answer}.", 0.0, True, self._info(parsed, error)

    def _store_steps(self) -> list[dict[str, Any]]:
        return [c for c in self._plan if c["tool"] == "memory" and c["arguments"].get("op") == "set"]

    # ------------------------------------------------------------------ policies
    def _step_done(self, call: dict[str, Any]) -> bool:
        if call["tool"] == "memory" and call["arguments"].get("op") == "set":
            return self.memory.get(call["arguments"]["key"]) == call["arguments"]["value"]
        return _signature(call) in self._calls_made

    def expert_action(self) -> str:
        """Call each tool of the task's plan once (in order, skipping calls already made), then answer."""
        for call in self._plan:
            if not self._step_done(call):
                return json.dumps(call)
        return json.dumps({"answer": self._answer})

    def sample_action(self, rng: random.Random) -> str:
        """A random baseline: a random guess, a plausible but aimless tool call, or prose."""
        choices = [
            json.dumps({"answer": str(rng.randint(0, 10_000))}),
            json.dumps(_call("calculator", expression=f"{rng.randint(1, 999)} * {rng.randint(1, 999)}")),
            json.dumps(_call("memory", op="list")),
            json.dumps(_call("files", op="list")),
            "I think the answer is " + str(rng.randint(0, 100)),
        ]
        return rng.choice(choices)


register_env("tools", ToolUseEnv)
