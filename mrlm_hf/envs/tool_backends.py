"""The tools of the ``tools`` environment: a safe calculator (``safe_eval``) and a file workspace confined to its
own temporary directory (``Workspace``). The environment (``mrlm_hf.envs.tools``) parses the calls and runs them.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
import shutil
import stat
import tempfile
import weakref
from pathlib import PurePosixPath
from typing import Any

__all__ = ["CalculatorError", "ToolError", "Workspace", "format_number", "safe_eval"]

# ---------------------------------------------------------------------------------------------------- calculator
CALC_MAX_CHARS = 500
CALC_MAX_DEPTH = 100
CALC_MAX_EXPONENT = 64
CALC_MAX_DIGITS = 200
_CALC_MAX_BITS = int(CALC_MAX_DIGITS * math.log2(10)) + 1

_BIN_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS: dict[type, Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class CalculatorError(ValueError):
    """The expression is not allowed or cannot be evaluated."""


def _check_number(value: Any) -> int | float:
    """Refuse anything but finite, bounded ints and floats."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculatorError(f"only real numbers are allowed, got {type(value).__name__}")
    if isinstance(value, int):
        if value.bit_length() > _CALC_MAX_BITS:
            raise CalculatorError(f"number too large (more than {CALC_MAX_DIGITS} digits)")
    elif not math.isfinite(value) or abs(value) > 10.0**CALC_MAX_DIGITS:
        raise CalculatorError("number too large or not finite")
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    """``base ** exponent`` with the exponent and the result size checked before computing."""
    if abs(exponent) > CALC_MAX_EXPONENT:
        raise CalculatorError(f"exponent too large (|exponent| <= {CALC_MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if (abs(base).bit_length() - 1) * exponent > _CALC_MAX_BITS:
            raise CalculatorError(f"result too large (more than {CALC_MAX_DIGITS} digits)")
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero")
    result = base**exponent
    if isinstance(result, complex):
        raise CalculatorError("result is not a real number")
    return result


def _evaluate(node: ast.AST, depth: int) -> int | float:
    if depth > CALC_MAX_DEPTH:
        raise CalculatorError("expression nested too deeply")
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        return _check_number(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
        return _check_number(_UNARY_OPS[type(node.op)](_evaluate(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _check_number(_power(left, right))
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise CalculatorError("division by zero")
        return _check_number(_BIN_OPS[type(node.op)](left, right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise CalculatorError("'^' is not supported; use ** for powers")
    raise CalculatorError(f"not allowed: {type(node).__name__} (only numbers, + - * / // % ** and parentheses)")


def safe_eval(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely (no names, calls or attributes; bounded sizes and exponents)."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be a string")
    if len(expression) > CALC_MAX_CHARS:
        raise CalculatorError(f"expression too long (at most {CALC_MAX_CHARS} characters)")
    if not expression.strip():
        raise CalculatorError("empty expression")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalculatorError(f"invalid expression ({type(exc).__name__})") from None
    try:
        return _evaluate(tree, 0)
    except (ArithmeticError, RecursionError, MemoryError) as exc:
        raise CalculatorError(f"cannot evaluate ({type(exc).__name__}: {exc})") from None


def format_number(value: int | float) -> str:
    """Render a calculator result (ints exactly, floats with ``repr``)."""
    return str(value) if isinstance(value, int) else repr(value)


# ---------------------------------------------------------------------------------------------------- workspace
class ToolError(ValueError):
    """A tool call that was well-formed but failed (missing file, bad path, missing key, ...)."""


class Workspace:
    """A file store confined to its own temporary directory.

    Paths are relative; absolute paths, ``..`` components, symlinks anywhere on the path and anything whose real
    path leaves the directory are refused. File size, file count and total size are capped."""

    MAX_PATH_CHARS = 200
    MAX_DEPTH = 4
    MAX_FILE_BYTES = 16_384
    MAX_TOTAL_BYTES = 262_144
    MAX_FILES = 64

    def __init__(self) -> None:
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="mrlm_tools_"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, True)

    def cleanup(self) -> None:
        """Delete the directory (idempotent)."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def _resolve(self, path: Any) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ToolError("'path' must be a non-empty string")
        if len(path) > self.MAX_PATH_CHARS or "\x00" in path:
            raise ToolError("invalid path")
        normalized = path.strip().replace("\\", "/")
        if normalized.startswith(("/", "~")) or os.path.isabs(path) or re.match(r"^[A-Za-z]:", normalized):
            raise ToolError("absolute paths are not allowed; use a path relative to the workspace")
        parts = [p for p in PurePosixPath(normalized).parts if p not in ("", ".")]
        if not parts:
            raise ToolError("invalid path")
        if ".." in parts:
            raise ToolError("'..' is not allowed in paths")
        if len(parts) > self.MAX_DEPTH:
            raise ToolError(f"path too deep (at most {self.MAX_DEPTH} levels)")
        current = self.root
        for part in parts:
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise ToolError("symlinks are not allowed")
        real = os.path.realpath(current)
        if os.path.commonpath([self.root, real]) != self.root:
            raise ToolError("path escapes the workspace")
        return current

    def _relative(self, full: str) -> str:
        return os.path.relpath(full, self.root).replace(os.sep, "/")

    def files(self) -> list[tuple[str, int]]:
        """``(relative path, size)`` of every regular file, sorted; symlinks are neither followed nor listed."""
        found = []
        for directory, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            for name in filenames:
                full = os.path.join(directory, name)
                info = os.lstat(full)
                if stat.S_ISREG(info.st_mode):
                    found.append((self._relative(full), info.st_size))
        return sorted(found)

    def read(self, path: Any) -> str:
        full = self._resolve(path)
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            raise ToolError(f"no such file: {path}") from None
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"not a file: {path}")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(full, flags)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.MAX_FILE_BYTES + 1)
        return data[: self.MAX_FILE_BYTES].decode("utf-8", errors="replace")

    def write(self, path: Any, content: Any) -> int:
        if not isinstance(content, str):
            raise ToolError("'content' must be a string")
        data = content.encode("utf-8", errors="replace")
        if len(data) > self.MAX_FILE_BYTES:
            raise ToolError(f"file too large (at most {self.MAX_FILE_BYTES} bytes)")
        full = self._resolve(path)
        existing = dict(self.files())
        relative = self._relative(full)
        if relative not in existing and len(existing) >= self.MAX_FILES:
            raise ToolError(f"too many files (at most {self.MAX_FILES})")
        if sum(existing.values()) - existing.get(relative, 0) + len(data) > self.MAX_TOTAL_BYTES:
            raise ToolError(f"workspace full (at most {self.MAX_TOTAL_BYTES} bytes)")
        if os.path.isdir(full):
            raise ToolError(f"is a directory: {path}")
        parent = os.path.dirname(full)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ToolError("a parent of this path is a file") from None
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(full, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return len(data)
