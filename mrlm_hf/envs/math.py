"""``math``: arithmetic and word problems with exact answers and several attempts.

Problems are generated from the seed, so the same seed always gives the same problem:

* difficulty 1: one operation, ``What is 37 + 48?`` (``+ - * /``, division always exact);
* difficulty 2: two operations with precedence or parentheses, ``What is (12 + 6) / 4?`` (the answer may be a
  fraction such as ``9/2``);
* difficulty 3: a short word problem with named quantities and two or three operations;
* difficulty 4: a longer word problem with three or four operations (halves, shares, averages; fractions possible).

Alternatively problems come from a ``datasets.Dataset`` (see ``MathEnv``). The agent has ``max_turns`` attempts;
a wrong answer is told "Incorrect" without any hint, so nothing about the answer leaks.

The scripted expert has two styles (``MathEnv(expert=...)``), both always correct:

* ``"answer"`` (default): only the answer, ``The answer is 85.``;
* ``"worked"``: a short worked solution, then the answer (chain-of-thought demonstrations for small models).
  Difficulty 1 ``+`` and ``-`` are done column by column from the units up, each step restating the digits it uses
  and the carry or borrow (``17-8`` is a units column that borrowed, ``-1`` in the next column pays it back)::

      47 + 38   ->  7+8=15, 4+3+1=8. The answer is 85.
      52 - 17   ->  12-7=5, 5-1-1=3. The answer is 35.
      38 - 47   ->  -(47-38): 17-8=9, 4-3-1=0. The answer is -9.
      8 * 7     ->  8*7=56. The answer is 56.

  The answer is the last column's result followed by the last digit of each earlier column (leading zeros
  dropped). Difficulty 2 evaluates the inner operation, then the outer one (``12+6=18, 18/4=9/2. The answer is
  9/2.``; a fraction or negative intermediate is parenthesised). Difficulty 3 and 4 and dataset problems fall
  back to the plain answer. No step contains the word "answer", so ``extract_answer`` reads the final one.

This module is slightly above ~500 lines: the problem generators (the task source) and the worked solutions (the
expert) are short functions that only make sense next to the environment that uses them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from mrlm_hf.envs.answer import extract_answer, format_answer, parse_reference
from mrlm_hf.envs.base import TextEnv, check_task_dataset
from mrlm_hf.envs.dataset_rows import parse_rows
from mrlm_hf.envs.registry import register_env

__all__ = ["EXPERT_STYLES", "MathEnv", "dataset_problem", "generate_problem", "worked_solution"]

REWARD_CORRECT = 1.0
REWARD_WRONG = 0.0
REWARD_MALFORMED = -0.1

FEEDBACK_CORRECT = "Correct!"
FEEDBACK_WRONG = "Incorrect, try again."
FEEDBACK_WRONG_LAST = "Incorrect. No attempts left."
FEEDBACK_MALFORMED = "No number found in your reply. Answer in the form 'The answer is <number>.'"

_NAMES = ["Ava", "Ben", "Mia", "Leo", "Zoe", "Sam", "Ivy", "Max", "Ana", "Tom", "Eva", "Raj", "Lia", "Omar"]
_ITEMS = ["apples", "pencils", "stickers", "cookies", "marbles", "books", "cards", "shells", "stamps", "eggs"]
_CONTAINERS = [("box", "boxes"), ("bag", "bags"), ("jar", "jars"), ("basket", "baskets"), ("crate", "crates")]

Problem = tuple[str, Fraction]


# ---------------------------------------------------------------------------------------------- difficulty 1, 2
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def _d1(rng: random.Random) -> Problem:
    op = rng.choice("+-*/")
    if op in "+-":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
    elif op == "*":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
    else:
        b, q = rng.randint(2, 12), rng.randint(2, 12)
        a = b * q
    return f"What is {a} {op} {b}?", _apply(op, Fraction(a), Fraction(b))


def _operand(rng: random.Random, op: str) -> int:
    return rng.randint(2, 12) if op in "*/" else rng.randint(2, 50)


def _d2(rng: random.Random) -> Problem:
    """Two operations; the nested one is rendered with parentheses only where precedence requires them."""
    while True:
        outer, inner = rng.choice("+-*/"), rng.choice("+-*/")
        a, b, c = _operand(rng, inner), _operand(rng, inner), _operand(rng, outer)
        if rng.random() < 0.5:  # (a inner b) outer c
            value = _apply(outer, _apply(inner, Fraction(a), Fraction(b)), Fraction(c))
            left = f"{a} {inner} {b}"
            if _PREC[inner] < _PREC[outer]:
                left = f"({left})"
            text = f"{left} {outer} {c}"
        else:  # c outer (a inner b)
            rhs = _apply(inner, Fraction(a), Fraction(b))
            if outer == "/" and rhs == 0:
                continue
            value = _apply(outer, Fraction(c), rhs)
            right = f"{a} {inner} {b}"
            if _PREC[inner] < _PREC[outer] or (_PREC[inner] == _PREC[outer] and outer in "-/"):
                right = f"({right})"
            text = f"{c} {outer} {right}"
        # Keep answers small and fractions simple, so that the answer is short.
        if value.denominator <= 12 and abs(value) <= 1000:
            return f"What is {text}?", value


# ---------------------------------------------------------------------------------------------- word problems
def _d3_give_away(rng: random.Random) -> Problem:
    name, friend = rng.sample(_NAMES, 2)
    item = rng.choice(_ITEMS)
    a, b = rng.randint(5, 40), rng.randint(3, 30)
    c = rng.randint(1, a + b - 1)
    q = (
        f"{name} has {a} {item}. {name} buys {b} more and then gives {c} to {friend}. "
        f"How many {item} does {name} have now?"
    )
    return q, Fraction(a + b - c)


def _d3_packs(rng: random.Random) -> Problem:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    box, boxes = rng.choice(_CONTAINERS)
    n, k = rng.randint(2, 9), rng.randint(3, 12)
    u = rng.randint(1, n * k - 1)
    q = (
        f"{name} buys {n} {boxes} of {item}. Each {box} holds {k} {item}. {name} uses {u} of them. "
        f"How many {item} are left?"
    )
    return q, Fraction(n * k - u)


def _d3_leftover(rng: random.Random) -> Problem:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    box, boxes = rng.choice(_CONTAINERS)
    k, n = rng.randint(3, 12), rng.randint(2, 9)
    r = rng.randint(1, k - 1)
    q = (
        f"A {box} holds {k} {item}. {name} fills {n} {boxes} and has {r} {item} left over. "
        f"How many {item} did {name} start with?"
    )
    return q, Fraction(n * k + r)


def _d3_wage(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    w, h = rng.randint(8, 25), rng.randint(2, 9)
    s = rng.randint(1, w * h - 1)
    q = (
        f"{name} earns {w} dollars per hour and works {h} hours. {name} then spends {s} dollars. "
        f"How many dollars does {name} have left?"
    )
    return q, Fraction(w * h - s)


def _d3_share(rng: random.Random) -> Problem:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    p, each = rng.randint(2, 8), rng.randint(3, 12)
    e = rng.randint(1, each - 1)
    q = (
        f"{name} shares {p * each} {item} equally among {p} friends. Each friend then loses {e}. "
        f"How many {item} does each friend have left?"
    )
    return q, Fraction(each - e)


def _d3_pages(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    a = rng.randint(5, 40)
    t = 3 * a + rng.randint(1, 100)
    q = (
        f"A book has {t} pages. {name} reads {a} pages on Monday and twice as many on Tuesday. "
        f"How many pages are left to read?"
    )
    return q, Fraction(t - 3 * a)


def _d4_shop(rng: random.Random) -> Problem:
    item = rng.choice(_ITEMS)
    box, boxes = rng.choice(_CONTAINERS)
    while True:
        a, n, k = rng.randint(20, 90), rng.randint(2, 6), rng.randint(4, 12)
        b = rng.randint(1, a - 1)
        if (a - b + n * k) % 2 == 0:
            break
    q = (
        f"A shop has {a} {item}. In the morning it sells {b}. At noon it receives {n} {boxes} with {k} {item} "
        f"in each {box}. In the afternoon it sells half of its {item}. How many {item} are left?"
    )
    return q, Fraction(a - b + n * k, 2)


def _d4_juice(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    a, n, k, p = rng.randint(1, 9), rng.randint(2, 5), rng.randint(2, 4), rng.randint(2, 9)
    q = (
        f"{name} has {a} liters of juice and buys {n} bottles with {k} liters each. {name} pours all the juice "
        f"equally into {p} jugs. How many liters are in each jug?"
    )
    return q, Fraction(a + n * k, p)


def _d4_savings(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    parts = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}
    d = rng.choice(sorted(parts))
    while True:
        a, w = rng.randint(5, 30), rng.randint(2, 10)
        if (a * w) % d == 0:
            break
    kept = a * w - a * w // d
    c = rng.randint(1, max(1, kept - 1))
    q = (
        f"{name} saves {a} dollars every week for {w} weeks. {name} spends {parts[d]} of the savings on a bike "
        f"and {c} dollars on a helmet. How many dollars are left?"
    )
    return q, Fraction(kept - c)


def _d4_tickets(rng: random.Random) -> Problem:
    x, y = rng.randint(8, 20), rng.randint(3, 7)
    m, n = rng.randint(1, 5), rng.randint(1, 6)
    total = m * x + n * y
    paid = (total // 50 + 1) * 50
    q = (
        f"Tickets cost {x} dollars for adults and {y} dollars for children. A group of {m} adults and {n} "
        f"children pays with {paid} dollars. How many dollars of change do they get?"
    )
    return q, Fraction(paid - total)


def _d4_average(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    s = [rng.randint(5, 30) for _ in range(4)]
    q = (
        f"{name} scores {s[0]}, {s[1]} and {s[2]} points in three games, and {s[3]} points in a fourth game. "
        f"What is the average score per game?"
    )
    return q, Fraction(sum(s), 4)


def _d4_machine(rng: random.Random) -> Problem:
    item = rng.choice(_ITEMS)
    r, h1, h2 = rng.randint(5, 30), rng.randint(2, 8), rng.randint(2, 8)
    d = rng.randint(1, r)
    q = (
        f"A machine makes {r} {item} per hour. It runs {h1} hours on Monday and {h2} hours on Tuesday. "
        f"{d} {item} are broken and thrown away. How many {item} are left?"
    )
    return q, Fraction(r * (h1 + h2) - d)


def _d4_garden(rng: random.Random) -> Problem:
    name = rng.choice(_NAMES)
    length, width = rng.randint(4, 12), rng.randint(3, 10)
    a, b = rng.randint(1, length - 1), rng.randint(1, width - 1)
    f = rng.randint(2, 6)
    q = (
        f"{name}'s garden is {length} meters long and {width} meters wide. A {a} by {b} meter patio is paved. "
        f"{name} plants {f} flowers on each square meter that is not paved. How many flowers does {name} plant?"
    )
    return q, Fraction(f * (length * width - a * b))


_GENERATORS: dict[int, list[Callable[[random.Random], Problem]]] = {
    1: [_d1],
    2: [_d2],
    3: [_d3_give_away, _d3_packs, _d3_leftover, _d3_wage, _d3_share, _d3_pages],
    4: [_d4_shop, _d4_juice, _d4_savings, _d4_tickets, _d4_average, _d4_machine, _d4_garden],
}


def generate_problem(rng: random.Random, difficulty: int) -> tuple[str, Fraction]:
    """Draw one ``(question, exact answer)`` of ``difficulty`` (1..4) from ``rng``."""
    if difficulty not in _GENERATORS:
        raise ValueError(f"difficulty must be 1..4, got {difficulty!r}")
    return rng.choice(_GENERATORS[difficulty])(rng)


# ---------------------------------------------------------------------------------------------- worked solutions
EXPERT_STYLES = ("answer", "worked")

_ARITH_RE = re.compile(r"^What is (.+)\?$")
_TOKEN_RE = re.compile(r"\d+|[-+*/()]")


def _digits(n: int, width: int) -> list[int]:
    """The decimal digits of ``n >= 0``, units first, padded with zeros to ``width``."""
    return [(n // 10**i) % 10 for i in range(width)]


def _column_addition(a: int, b: int) -> tuple[str, int]:
    """``a + b`` (both >= 0) column by column: ``"7+8=15, 4+3+1=8"`` for 47 + 38."""
    width = max(len(str(a)), len(str(b)))
    da, db = _digits(a, width), _digits(b, width)
    steps, low_digits, carry = [], [], 0
    for i in range(width):
        total = da[i] + db[i] + carry
        steps.append(f"{da[i]}+{db[i]}{'+1' if carry else ''}={total}")
        if i < width - 1:
            low_digits.append(total % 10)
            carry = total // 10
        else:
            result = int(str(total) + "".join(str(d) for d in reversed(low_digits)))
    return ", ".join(steps), result


def _column_subtraction(a: int, b: int) -> tuple[str, int]:
    """``a - b`` (``a >= b >= 0``) column by column: ``"12-7=5, 5-1-1=3"`` for 52 - 17 (a leading 1 marks a borrow,
    a trailing ``-1`` pays it back in the next column)."""
    width = len(str(a))
    da, db = _digits(a, width), _digits(b, width)
    steps, digits, borrow = [], [], 0
    for i in range(width):
        top = da[i] - borrow
        take = 10 if top < db[i] else 0
        steps.append(f"{take // 10 or ''}{da[i]}-{db[i]}{'-1' if borrow else ''}={top + take - db[i]}")
        digits.append(top + take - db[i])
        borrow = 1 if take else 0
    return ", ".join(steps), int("".join(str(d) for d in reversed(digits)))


def _as_operand(value: Fraction) -> str:
    """An intermediate value as an operand: ``12``, ``(9/2)``, ``(-7)``."""
    text = format_answer(value)
    return text if value.denominator == 1 and value >= 0 else f"({text})"


def _one_operation(a: int, op: str, b: int) -> tuple[str, Fraction]:
    """The worked steps of ``a op b`` for non-negative integers (difficulty 1), and the value they arrive at."""
    if op == "+":
        steps, value = _column_addition(a, b)
        return steps, Fraction(value)
    if op == "-":
        if a < b:
            steps, value = _column_subtraction(b, a)
            return f"-({b}-{a}): {steps}", Fraction(-value)
        steps, value = _column_subtraction(a, b)
        return steps, Fraction(value)
    value_ = _apply(op, Fraction(a), Fraction(b))
    return f"{a}{op}{b}={format_answer(value_)}", value_


def _step(x: Fraction, op: str, y: Fraction) -> tuple[str, Fraction]:
    value = _apply(op, x, y)
    return f"{_as_operand(x)}{op}{_as_operand(y)}={format_answer(value)}", value


def _two_operations(tokens: list[str]) -> tuple[str, Fraction] | None:
    """The worked steps of ``x op y op z`` with optional parentheses around one pair (difficulty 2), inner first."""
    numbers = [Fraction(t) for t in tokens if t.isdigit()]
    ops = [t for t in tokens if t in ("+", "-", "*", "/")]
    if len(numbers) != 3 or len(ops) != 2:
        return None
    (x, y, z), (first, second) = numbers, ops
    if tokens[0] == "(":  # (x op y) op z
        right_first = False
    elif "(" in tokens:  # x op (y op z)
        right_first = True
    else:
        right_first = _PREC[second] > _PREC[first]
    if right_first:
        step1, inner = _step(y, second, z)
        step2, value = _step(x, first, inner)
    else:
        step1, inner = _step(x, first, y)
        step2, value = _step(inner, second, z)
    return f"{step1}, {step2}", value


def worked_solution(question: str, answer: Fraction) -> str:
    """The ``"worked"`` expert's reply to a generated difficulty 1 or 2 ``question``: steps, then ``The answer is N.``

    Anything else (word problems, dataset questions) gets the plain ``The answer is N.``. Raises ``RuntimeError`` if
    the steps arrive at a value other than ``answer`` (they never do for generated problems)."""
    final = f"The answer is {format_answer(answer)}."
    match = _ARITH_RE.match(question)
    if match is None:
        return final
    expression = match.group(1)
    tokens = _TOKEN_RE.findall(expression)
    if "".join(tokens) != expression.replace(" ", ""):
        return final
    try:
        if len(tokens) == 3 and tokens[0].isdigit() and tokens[2].isdigit() and tokens[1] in ("+", "-", "*", "/"):
            worked: tuple[str, Fraction] | None = _one_operation(int(tokens[0]), tokens[1], int(tokens[2]))
        else:
            worked = _two_operations(tokens)
    except ZeroDivisionError:  # not a generated problem
        worked = None
    if worked is None:
        return final
    steps, value = worked
    if value != answer:
        raise RuntimeError(f"worked solution of {question!r} arrives at {value}, not {answer}")
    return f"{steps}. {final}"


# ---------------------------------------------------------------------------------------------- datasets
_MARKER_RE = re.compile(r"####|\\boxed|\banswer\b", re.IGNORECASE)
_LATEX_FRACTION_RE = re.compile(r"\\[dt]?frac\{[^{}]*\}\{[^{}]*\}")
_NUMBER_TOKEN_RE = re.compile(r"[0-9]+(?:(?:[.,]| ?/ ?)[0-9]+)*(?:[eE][-+]?[0-9]+)?")


def dataset_problem(row: Any, index: int, question_column: str, answer_column: str) -> tuple[str, Fraction]:
    """The ``(question, exact answer)`` of one dataset row, or ``ValueError`` naming the row and the column.

    The answer cell may be a number, ``"3/4"``, ``"\\frac{3}{4}"``, a GSM8K solution ending in ``"#### 72"``, a
    ``\\boxed{}`` or an "answer is" marker. Refused rather than guessed: a ``####`` not followed by a number,
    and text with several numbers but no marker (which number is the answer?)."""
    where = f"dataset row {index}"
    try:
        question, answer = row[question_column], row[answer_column]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"{where}: no column {question_column!r} or {answer_column!r} in {str(row)[:200]!r}") from None
    if not isinstance(question, str) or not question.strip():
        raise ValueError(
            f"{where}, column {question_column!r}: must be a non-empty string, got {str(question)[:100]!r}"
        )
    if isinstance(answer, str):
        if "####" in answer and extract_answer(answer[answer.rindex("####") + 4 :]) is None:
            raise ValueError(f"{where}, column {answer_column!r}: the last '####' is not followed by a number")
        if not _MARKER_RE.search(answer) and len(_NUMBER_TOKEN_RE.findall(_LATEX_FRACTION_RE.sub("0", answer))) > 1:
            raise ValueError(
                f"{where}, column {answer_column!r}: several numbers and no '#### N', \\boxed{{N}} or 'answer is N' "
                f"marker, so the answer is ambiguous: {answer[:200]!r}"
            )
    try:
        return question, parse_reference(answer)
    except ValueError as exc:
        raise ValueError(f"{where}, column {answer_column!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------- environment
class MathEnv(TextEnv):
    """Solve a math problem; ``max_turns`` attempts, exact answers.

    Args:
        difficulty: 1..4 for generated problems (see the module docstring); ignored with ``dataset``.
        max_turns: number of attempts.
        dataset: optional ``datasets.Dataset`` (or any sequence of mappings) to take problems from instead of
            generating them. ``reset(seed)`` picks row ``seed % len(dataset)``. The answer column may hold a
            number, ``"3/4"``, ``"\\frac{3}{4}"`` or a GSM8K-style solution ending in ``"#### 72"``
            (``dataset_problem``). Every row is read when the environment is made: a row without a question,
            without a number, with a ``####`` not followed by a number or with several numbers and no marker
            raises ``ValueError`` naming the row and the column. GSM8K loads as it is (docs/datasets.md).
            ``config`` then records ``{"dataset": "<in-memory>"}``: pass the dataset again to recreate the env.
        question_column, answer_column: column names in ``dataset``.
        expert: the scripted expert's style (``expert_action``): ``"answer"`` (default) states only the answer,
            ``"worked"`` writes a short worked solution first (difficulty 1 and 2; see the module docstring).
            ``config`` records it only when it is not the default.

    Reward: 1.0 for a correct answer on any attempt (terminates, ``info["success"]``), 0.0 for a wrong one
    (the feedback says only "Incorrect"), -0.1 for a reply without a number. The episode return therefore never
    exceeds 1.0. ``info`` also carries ``attempt`` (the number of replies so far).
    """

    name = "math"
    system_prompt = (
        "Solve the math problem. End your reply with 'The answer is N.' where N is a number: an integer such as 42 "
        "or -7, or a fraction such as 3/4."
    )
    stop_strings = ()

    def __init__(
        self,
        difficulty: int = 1,
        max_turns: int = 3,
        dataset: Any = None,
        question_column: str = "question",
        answer_column: str = "answer",
        expert: str = "answer",
    ) -> None:
        super().__init__(max_turns=max_turns)
        if isinstance(difficulty, bool) or difficulty not in _GENERATORS:
            raise ValueError(f"difficulty must be 1..4, got {difficulty!r}")
        self._problems: tuple[tuple[str, Fraction], ...] = ()
        if dataset is not None:
            check_task_dataset(dataset, (question_column, answer_column))
            columns = (question_column, answer_column)
            self._problems = parse_rows(dataset, lambda row, i: dataset_problem(row, i, *columns), columns)
        if expert not in EXPERT_STYLES:
            raise ValueError(f"expert must be one of {', '.join(map(repr, EXPERT_STYLES))}, got {expert!r}")
        self.expert = expert
        self.difficulty = difficulty
        self.dataset = dataset
        self.question_column = question_column
        self.answer_column = answer_column
        self.question: str | None = None
        self.answer: Fraction | None = None
        self.task_id: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"difficulty": self.difficulty, "max_turns": self.max_turns}
        if self.dataset is not None:
            cfg.update(dataset="<in-memory>", question_column=self.question_column, answer_column=self.answer_column)
        if self.expert != "answer":
            cfg["expert"] = self.expert
        return cfg

    def _info(self, parsed: Fraction | None = None, error: str | None = None, success: bool = False) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "parsed_action": None if parsed is None else format_answer(parsed),
            "error": error,
            "success": success,
            "attempt": self.turn,
        }

    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seed = self._seed
        if not isinstance(seed, int) or isinstance(seed, bool):
            # Unseeded (or a non-int seed): draw an int seed so the task id still names a reproducible task.
            seed = self.rng.randrange(2**31)
            self.rng = random.Random(seed)
        if self.dataset is not None:
            row_index = seed % len(self.dataset)
            self.question, self.answer = self._problems[row_index]
            self.task_id = f"math-data-{row_index}"
        else:
            self.question, self.answer = generate_problem(self.rng, self.difficulty)
            self.task_id = f"math-d{self.difficulty}-{seed}"
        return self.question, self._info()

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        parsed = extract_answer(action)
        last = self.turn >= self.max_turns
        if parsed is None:
            error = "empty" if not action.strip() else "no_answer"
            obs = FEEDBACK_MALFORMED if last else f"{FEEDBACK_MALFORMED} Try again."
            return obs, REWARD_MALFORMED, False, self._info(error=error)
        if parsed == self.answer:
            return FEEDBACK_CORRECT, REWARD_CORRECT, True, self._info(parsed, success=True)
        return FEEDBACK_WRONG_LAST if last else FEEDBACK_WRONG, REWARD_WRONG, False, self._info(parsed)

    def expert_action(self) -> str:
        """State the exact answer: ``"The answer is 42."`` (``"The answer is 3/4."`` for a fraction); with
        ``expert="worked"`` a worked solution comes first for generated difficulty 1 and 2 problems."""
        if self.answer is None or self.question is None:
            raise RuntimeError("MathEnv.expert_action() called before reset().")
        if self.expert == "worked" and self.dataset is None:
            return worked_solution(self.question, self.answer)
        return f"The answer is {format_answer(self.answer)}."

    def sample_action(self, rng: random.Random) -> str:
        """A random guess that ignores the problem, or garbage."""
        kind = rng.randrange(4)
        if kind == 0:
            return f"The answer is {rng.randint(-20, 200)}."
        if kind == 1:
            return str(rng.randint(0, 100))
        if kind == 2:
            return rng.choice(["", "I don't know.", "Let me think about it."])
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz +-*/=?.") for _ in range(rng.randint(1, 30)))


register_env("math", MathEnv)
