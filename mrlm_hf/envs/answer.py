"""Exact numeric answer extraction for math tasks.

``extract_answer`` pulls one number out of free text (a model's reply) as an exact ``Fraction``, looking for an
explicit marker first and falling back to the last number, in this order:

1. the last ``\\boxed{...}`` that contains a number;
2. the text after the last ``####`` (GSM8K style);
3. the first number after the last "answer is" / "answer:" / "answer =" marker (case-insensitive);
4. the last number anywhere in the text.

Numbers may be integers with thousands separators (``1,234``), negatives (``-5``, ``−5``), decimals (``3.5``),
scientific notation (``2.5e3``), fractions (``3/4``) or LaTeX fractions (``\\frac{3}{4}``, ``\\dfrac``,
``\\tfrac``). Everything is a linear regex scan with bounded repetitions, so hostile input (100 kB of digits,
binary garbage) is handled quickly and never raises.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

__all__ = ["answers_equal", "extract_answer", "format_answer", "parse_reference"]

#: Number tokens longer than this (characters) are ignored: they are never real answers, and huge ints are slow.
MAX_DIGITS = 100

_UNSIGNED = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,2})?"
# A minus sign counts only when it does not follow a digit, letter or closing bracket ("5-3" is not "-3").
_SIGN = r"(?:(?<![0-9A-Za-z)\]}])[-\u2212])?"
_NUMBER_RE = re.compile(
    rf"(?P<lsign>{_SIGN})\\[dt]?frac\{{ ?(?P<lnum>-?{_UNSIGNED}) ?\}}\{{ ?(?P<lden>-?{_UNSIGNED}) ?\}}"
    rf"|(?P<fsign>{_SIGN})(?P<fnum>{_UNSIGNED}) ?/ ?(?P<fden>-?{_UNSIGNED})"
    rf"|(?P<sign>{_SIGN})(?P<num>{_UNSIGNED})"
)
_BOXED_RE = re.compile(r"\\boxed ?\{")
_ANSWER_RE = re.compile(r"\banswer\b(?: (?:is|was|would be|will be|should be))?(?: ?[:=])?", re.IGNORECASE)
#: How far (characters) after a marker we look for the number it introduces.
_MARKER_WINDOW = 200
_BOXED_MAX = 200
#: Only the last few markers of each kind are examined (a reply repeating a marker thousands of times is garbage).
_MAX_MARKERS = 20


def _to_fraction(token: str) -> Fraction | None:
    """Convert one decimal token (maybe signed, with separators) to a Fraction; None if it is absurd."""
    if len(token) > MAX_DIGITS:
        return None
    try:
        return Fraction(token.replace(",", "").replace("\u2212", "-"))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _match_value(m: re.Match[str]) -> Fraction | None:
    """The exact value of one ``_NUMBER_RE`` match (None for a zero denominator or an absurd number)."""
    if m.group("num") is not None:
        value = _to_fraction(m.group("num"))
        negative = bool(m.group("sign"))
    else:
        if m.group("lnum") is not None:
            num, den, negative = _to_fraction(m.group("lnum")), _to_fraction(m.group("lden")), bool(m.group("lsign"))
        else:
            num, den, negative = _to_fraction(m.group("fnum")), _to_fraction(m.group("fden")), bool(m.group("fsign"))
        if num is None or den is None or den == 0:
            return None
        value = num / den
    if value is None:
        return None
    return -value if negative else value


def _last_number(text: str) -> Fraction | None:
    """The last number in ``text`` (values are computed from the end, so long texts stay cheap)."""
    for m in reversed(list(_NUMBER_RE.finditer(text))):
        value = _match_value(m)
        if value is not None:
            return value
    return None


def _first_number(text: str) -> Fraction | None:
    """The first number in ``text``."""
    for m in _NUMBER_RE.finditer(text):
        value = _match_value(m)
        if value is not None:
            return value
    return None


def _boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` (brace-matched, each scan capped at ``_BOXED_MAX`` characters)."""
    contents = []
    for m in list(_BOXED_RE.finditer(text))[-_MAX_MARKERS:]:
        depth, start = 1, m.end()
        stop = min(len(text), start + _BOXED_MAX)
        for i in range(start, stop):
            ch = text[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    contents.append(text[start:i])
                    break
    return contents


def extract_answer(text: Any) -> Fraction | None:
    """The answer stated in ``text`` as an exact Fraction, or None if there is no number (never raises)."""
    if text is None:
        return None
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    try:
        for content in reversed(_boxed_contents(text)):
            value = _last_number(content)
            if value is not None:
                return value
        if "####" in text:
            value = _first_number(text[text.rindex("####") + 4 :][:_MARKER_WINDOW])
            if value is not None:
                return value
        for m in reversed(list(_ANSWER_RE.finditer(text))[-_MAX_MARKERS:]):
            value = _first_number(text[m.end() : m.end() + _MARKER_WINDOW])
            if value is not None:
                return value
        return _last_number(text)
    except Exception:  # a parser of untrusted text must never raise
        return None


def answers_equal(a: Any, b: Any) -> bool:
    """Exact rational comparison. Fractions/ints compare directly; strings are parsed with ``extract_answer``;
    None (no answer) is never equal to anything."""
    fa, fb = _as_fraction(a), _as_fraction(b)
    return fa is not None and fb is not None and fa == fb


def _as_fraction(x: Any) -> Fraction | None:
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, Fraction | int):
        return Fraction(x)
    if isinstance(x, float):
        # Through str so that 0.1 means 1/10, not the nearest binary float.
        return Fraction(repr(x)) if x == x and abs(x) != float("inf") else None
    return extract_answer(x)


def parse_reference(answer: Any) -> Fraction:
    """Parse a dataset's reference answer: a number, ``"72"``, ``"3/4"``, ``"\\frac{3}{4}"``, or a GSM8K-style
    solution ending in ``"#### 72"``. Raises ``ValueError`` if it holds no number (a data error, unlike a model's
    reply)."""
    value = _as_fraction(answer)
    if value is None:
        raise ValueError(f"Reference answer contains no number: {str(answer)[:200]!r}")
    return value


def format_answer(value: Fraction | int) -> str:
    """Canonical text of an exact answer: ``"42"``, ``"-7"``, ``"3/4"``, ``"-5/2"``."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
