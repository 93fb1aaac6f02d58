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

The built-in set (``builtin_tasks()``) holds 61 hand-written function tasks at three difficulty levels (1: short
loops and string handling, 2: classic small algorithms, 3: dynamic programming, graphs and search). Each has a
reference solution, three visible examples (shown in the prompt) and several hidden tests whose expected values
are computed from the reference solution.

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
# (name, difficulty, signature, description, solution, examples [(args, expected)], hidden [args])
_SPECS: list[tuple[str, int, str, str, str, list[tuple[tuple[Any, ...], Any]], list[tuple[Any, ...]]]] = [
    # ------------------------------------------------------------------------------------ difficulty 1
    (
        "sum_digits",
        1,
        "def sum_digits(n: int) -> int",
        "Return the sum of the decimal digits of the non-negative integer n.",
        "def sum_digits(n):\n    return sum(int(c) for c in str(n))\n",
        [((0,), 0), ((1234,), 10), ((9,), 9)],
        [(1000000,), (987654321,), (55,), (99999999999999999999,)],
    ),
    (
        "count_vowels",
        1,
        "def count_vowels(s: str) -> int",
        "Count the vowels (a, e, i, o, u, in upper or lower case) in s.",
        "def count_vowels(s):\n    return sum(c in 'aeiouAEIOU' for c in s)\n",
        [(("hello",), 2), (("",), 0), (("AEIOU xyz",), 5)],
        [("rhythm",), ("Programming Language",), ("aaaa",), ("Quick brown fox",)],
    ),
    (
        "reverse_words",
        1,
        "def reverse_words(s: str) -> str",
        "Return the words of s (separated by any whitespace) in reverse order, joined by single spaces.",
        "def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n",
        [(("hello world",), "world hello"), (("  a  b c ",), "c b a"), (("",), "")],
        [("one",), ("x\ty\nz",), ("the quick brown fox",), ("  ",)],
    ),
    (
        "is_palindrome",
        1,
        "def is_palindrome(s: str) -> bool",
        "Return True if s reads the same forwards and backwards, ignoring case and every character that is not "
        "a letter or a digit.",
        "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n",
        [(("A man, a plan, a canal: Panama",), True), (("hello",), False), (("",), True)],
        [("No 'x' in Nixon",), ("ab",), ("12321",), ("Was it a car or a cat I saw?",), ("abca",)],
    ),
    (
        "fizzbuzz",
        1,
        "def fizzbuzz(n: int) -> list[str]",
        "Return a list with one string for each integer from 1 to n: 'FizzBuzz' for multiples of both 3 and 5, "
        "'Fizz' for other multiples of 3, 'Buzz' for other multiples of 5, and the number itself otherwise.",
        "def fizzbuzz(n):\n"
        "    out = []\n"
        "    for i in range(1, n + 1):\n"
        "        if i % 15 == 0:\n"
        "            out.append('FizzBuzz')\n"
        "        elif i % 3 == 0:\n"
        "            out.append('Fizz')\n"
        "        elif i % 5 == 0:\n"
        "            out.append('Buzz')\n"
        "        else:\n"
        "            out.append(str(i))\n"
        "    return out\n",
        [((5,), ["1", "2", "Fizz", "4", "Buzz"]), ((0,), []), ((1,), ["1"])],
        [(15,), (16,), (30,)],
    ),
    (
        "second_largest",
        1,
        "def second_largest(nums: list[int]) -> int | None",
        "Return the second largest distinct value in nums, or None if nums has fewer than two distinct values.",
        "def second_largest(nums):\n    values = sorted(set(nums))\n    return values[-2] if len(values) >= 2 else None\n",
        [(([3, 1, 4, 1, 5],), 4), (([7, 7],), None), (([2, 9],), 2)],
        [([],), ([5],), ([-1, -2, -3],), ([10, 10, 9, 9, 8],), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 100],)],
    ),
    (
        "clamp",
        1,
        "def clamp(x: int, lo: int, hi: int) -> int",
        "Return x limited to the range [lo, hi] (you may assume lo <= hi).",
        "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        [((5, 0, 10), 5), ((-3, 0, 10), 0), ((12, 0, 10), 10)],
        [(0, 0, 0), (7, 7, 9), (9, 7, 9), (-100, -50, -10), (100, -50, -10)],
    ),
    (
        "count_occurrences",
        1,
        "def count_occurrences(items: list, target) -> int",
        "Return how many elements of items are equal to target.",
        "def count_occurrences(items, target):\n    return sum(1 for x in items if x == target)\n",
        [(([1, 2, 1, 3, 1], 1), 3), (([], 5), 0), ((["a", "b"], "c"), 0)],
        [(["x", "x"], "x"), ([1, 1, 1, 1], 1), ([None, 1, None], None), ([[1], [1], [2]], [1])],
    ),
    (
        "running_sum",
        1,
        "def running_sum(nums: list[int]) -> list[int]",
        "Return the list of prefix sums: element i is nums[0] + ... + nums[i].",
        "def running_sum(nums):\n    out, total = [], 0\n    for x in nums:\n        total += x\n"
        "        out.append(total)\n    return out\n",
        [(([1, 2, 3],), [1, 3, 6]), (([],), []), (([5],), [5])],
        [([-1, 1, -1, 1],), ([0, 0, 0],), ([10, -20, 30],)],
    ),
    (
        "factorial",
        1,
        "def factorial(n: int) -> int",
        "Return n! for a non-negative integer n (0! is 1).",
        "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
        [((0,), 1), ((5,), 120), ((1,), 1)],
        [(10,), (20,), (3,), (25,)],
    ),
    (
        "is_leap_year",
        1,
        "def is_leap_year(year: int) -> bool",
        "Return True if year is a leap year in the Gregorian calendar: divisible by 4, except years divisible "
        "by 100 that are not divisible by 400.",
        "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
        [((2024,), True), ((1900,), False), ((2000,), True)],
        [(2023,), (2100,), (2400,), (1996,), (1,)],
    ),
    (
        "capitalize_words",
        1,
        "def capitalize_words(s: str) -> str",
        "Upper-case the first character of every word and lower-case the rest of it. Words are separated by "
        "single spaces; keep every space where it is.",
        "def capitalize_words(s):\n    return ' '.join(w[:1].upper() + w[1:].lower() for w in s.split(' '))\n",
        [(("hello world",), "Hello World"), (("hELLO",), "Hello"), (("",), "")],
        [("a  b",), ("123abc DEF",), (" lead",), ("python IS fun",)],
    ),
    (
        "remove_duplicates",
        1,
        "def remove_duplicates(items: list) -> list",
        "Return the elements of items (all hashable) without repetitions, keeping the first occurrence of each "
        "in the original order.",
        "def remove_duplicates(items):\n    seen, out = set(), []\n    for x in items:\n        if x not in seen:\n"
        "            seen.add(x)\n            out.append(x)\n    return out\n",
        [(([1, 2, 1, 3, 2],), [1, 2, 3]), (([],), []), ((["b", "a", "b"],), ["b", "a"])],
        [([5, 5, 5],), ([1, 2, 3],), ([3, 2, 1, 2, 3],), (["x", "y", "x", "z", "y"],)],
    ),
    (
        "filter_even",
        1,
        "def filter_even(nums: list[int]) -> list[int]",
        "Return the even numbers of nums in their original order.",
        "def filter_even(nums):\n    return [x for x in nums if x % 2 == 0]\n",
        [(([1, 2, 3, 4],), [2, 4]), (([],), []), (([7, 8, 10],), [8, 10])],
        [([-2, -1, 0],), ([1, 3, 5],), ([2, 2, 3, 2],)],
    ),
    (
        "longest_word",
        1,
        "def longest_word(s: str) -> str",
        "Return the longest word of s (words are separated by whitespace); if several are equally long, the "
        "first of them; '' if s has no words.",
        "def longest_word(s):\n    best = ''\n    for w in s.split():\n        if len(w) > len(best):\n"
        "            best = w\n    return best\n",
        [(("a bb ccc dd",), "ccc"), (("",), ""), (("hi yo",), "hi")],
        [("one three five",), ("   ",), ("supercalifragilistic is long",), ("ab cd ef",)],
    ),
    (
        "char_frequency",
        1,
        "def char_frequency(s: str) -> dict[str, int]",
        "Return a dictionary mapping each character of s to the number of times it occurs.",
        "def char_frequency(s):\n    counts = {}\n    for c in s:\n        counts[c] = counts.get(c, 0) + 1\n"
        "    return counts\n",
        [(("aab",), {"a": 2, "b": 1}), (("",), {}), (("xyz",), {"x": 1, "y": 1, "z": 1})],
        [("hello world",), ("zzz",), ("AaA",)],
    ),
    (
        "sum_of_squares",
        1,
        "def sum_of_squares(n: int) -> int",
        "Return 1*1 + 2*2 + ... + n*n for a non-negative integer n (0 for n = 0).",
        "def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))\n",
        [((3,), 14), ((0,), 0), ((1,), 1)],
        [(10,), (100,), (2,)],
    ),
    (
        "count_words",
        1,
        "def count_words(s: str) -> int",
        "Return the number of words in s, where words are separated by any amount of whitespace.",
        "def count_words(s):\n    return len(s.split())\n",
        [(("hello world",), 2), (("",), 0), (("  a  ",), 1)],
        [("one\ttwo\nthree",), ("a b c d e",), (" ",)],
    ),
    (
        "hamming_distance",
        1,
        "def hamming_distance(a: str, b: str) -> int",
        "Return the number of positions at which the equally long strings a and b differ.",
        "def hamming_distance(a, b):\n    return sum(x != y for x, y in zip(a, b))\n",
        [(("karolin", "kathrin"), 3), (("", ""), 0), (("abc", "abc"), 0)],
        [("1011101", "1001001"), ("aaaa", "bbbb"), ("ab", "ba")],
    ),
    (
        "flatten",
        1,
        "def flatten(lists: list[list]) -> list",
        "Flatten one level of nesting: return the elements of the inner lists, in order, in a single list.",
        "def flatten(lists):\n    return [x for inner in lists for x in inner]\n",
        [(([[1, 2], [3], []],), [1, 2, 3]), (([],), []), (([[], []],), [])],
        [([["a"], ["b", "c"]],), ([[1, [2]], [3]],), ([[0, 0, 0], [1, 1]],)],
    ),
    # ------------------------------------------------------------------------------------ difficulty 2
    (
        "is_anagram",
        2,
        "def is_anagram(a: str, b: str) -> bool",
        "Return True if a and b contain the same letters the same number of times, ignoring spaces and case.",
        "def is_anagram(a, b):\n    key = lambda s: sorted(s.replace(' ', '').lower())\n    return key(a) == key(b)\n",
        [(("Listen", "Silent"), True), (("abc", "abd"), False), (("", ""), True)],
        [("Dormitory", "Dirty room"), ("aab", "abb"), ("The eyes", "They see"), ("a", "")],
    ),
    (
        "rotate_right",
        2,
        "def rotate_right(nums: list[int], k: int) -> list[int]",
        "Return nums rotated to the right by k steps (k >= 0, possibly larger than the length).",
        "def rotate_right(nums, k):\n    if not nums:\n        return []\n    k %= len(nums)\n"
        "    return nums[-k:] + nums[:-k] if k else list(nums)\n",
        [(([1, 2, 3, 4, 5], 2), [4, 5, 1, 2, 3]), (([], 3), []), (([1, 2], 0), [1, 2])],
        [([1, 2, 3], 3), ([1, 2, 3], 4), ([9], 100), ([1, 2, 3, 4, 5, 6], 11)],
    ),
    (
        "to_binary",
        2,
        "def to_binary(n: int) -> str",
        "Return the binary representation of the non-negative integer n, without a prefix.",
        "def to_binary(n):\n    return bin(n)[2:]\n",
        [((0,), "0"), ((5,), "101"), ((8,), "1000")],
        [(1,), (255,), (1024,), (123456789,)],
    ),
    (
        "int_to_roman",
        2,
        "def int_to_roman(n: int) -> str",
        "Return the Roman numeral for n (1 <= n <= 3999), using subtractive notation (IV, IX, XL, XC, CD, CM).",
        "def int_to_roman(n):\n"
        "    table = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),\n"
        "             (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]\n"
        "    out = []\n"
        "    for value, symbol in table:\n"
        "        while n >= value:\n"
        "            out.append(symbol)\n"
        "            n -= value\n"
        "    return ''.join(out)\n",
        [((3,), "III"), ((58,), "LVIII"), ((1994,), "MCMXCIV")],
        [(4,), (9,), (40,), (3999,), (444,), (2024,)],
    ),
    (
        "roman_to_int",
        2,
        "def roman_to_int(s: str) -> int",
        "Return the value of the Roman numeral s (valid, between 1 and 3999, with subtractive notation).",
        "def roman_to_int(s):\n"
        "    values = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n"
        "    total = 0\n"
        "    for i, c in enumerate(s):\n"
        "        v = values[c]\n"
        "        if i + 1 < len(s) and values[s[i + 1]] > v:\n"
        "            total -= v\n"
        "        else:\n"
        "            total += v\n"
        "    return total\n",
        [(("III",), 3), (("LVIII",), 58), (("MCMXCIV",), 1994)],
        [("IV",), ("IX",), ("XL",), ("MMMCMXCIX",), ("CDXLIV",)],
    ),
    (
        "caesar_cipher",
        2,
        "def caesar_cipher(s: str, shift: int) -> str",
        "Shift every ASCII letter of s by shift positions in the alphabet (wrapping around, keeping its case; "
        "shift may be negative or larger than 26) and leave every other character unchanged.",
        "def caesar_cipher(s, shift):\n"
        "    out = []\n"
        "    for c in s:\n"
        "        if 'a' <= c <= 'z':\n"
        "            out.append(chr((ord(c) - 97 + shift) % 26 + 97))\n"
        "        elif 'A' <= c <= 'Z':\n"
        "            out.append(chr((ord(c) - 65 + shift) % 26 + 65))\n"
        "        else:\n"
        "            out.append(c)\n"
        "    return ''.join(out)\n",
        [(("abc", 1), "bcd"), (("xyz", 3), "abc"), (("Hello, World!", 13), "Uryyb, Jbeyq!")],
        [("abc", -1), ("Zebra", 52), ("Python 3.11", 5), ("", 7), ("Shift Me", -30)],
    ),
    (
        "run_length_encode",
        2,
        "def run_length_encode(s: str) -> str",
        "Run-length encode s: replace every maximal run of a repeated character by the character followed by "
        "the run length, e.g. 'aaabcc' -> 'a3b1c2'. s contains no digits.",
        "def run_length_encode(s):\n"
        "    out, i = [], 0\n"
        "    while i < len(s):\n"
        "        j = i\n"
        "        while j < len(s) and s[j] == s[i]:\n"
        "            j += 1\n"
        "        out.append(s[i] + str(j - i))\n"
        "        i = j\n"
        "    return ''.join(out)\n",
        [(("aaabcc",), "a3b1c2"), (("",), ""), (("a",), "a1")],
        [("aaaaaaaaaaaa",), ("abab",), ("zzzyyx",)],
    ),
    (
        "run_length_decode",
        2,
        "def run_length_decode(s: str) -> str",
        "Decode a run-length encoding such as 'a3b1c2' -> 'aaabcc': each non-digit character is followed by its "
        "count, which may have several digits.",
        "def run_length_decode(s):\n"
        "    out, i = [], 0\n"
        "    while i < len(s):\n"
        "        c, j = s[i], i + 1\n"
        "        while j < len(s) and s[j].isdigit():\n"
        "            j += 1\n"
        "        out.append(c * int(s[i + 1:j]))\n"
        "        i = j\n"
        "    return ''.join(out)\n",
        [(("a3b1c2",), "aaabcc"), (("",), ""), (("x10",), "xxxxxxxxxx")],
        [("a1",), ("a2b12",), ("z1y1x1",)],
    ),
    (
        "merge_sorted",
        2,
        "def merge_sorted(a: list[int], b: list[int]) -> list[int]",
        "Merge the two sorted lists a and b into one sorted list (keep duplicates).",
        "def merge_sorted(a, b):\n"
        "    out, i, j = [], 0, 0\n"
        "    while i < len(a) and j < len(b):\n"
        "        if a[i] <= b[j]:\n"
        "            out.append(a[i])\n"
        "            i += 1\n"
        "        else:\n"
        "            out.append(b[j])\n"
        "            j += 1\n"
        "    return out + a[i:] + b[j:]\n",
        [(([1, 3, 5], [2, 4]), [1, 2, 3, 4, 5]), (([], []), []), (([1], []), [1])],
        [([], [1, 2]), ([1, 1, 2], [1, 3]), ([-5, 0, 5], [-6, 6]), ([2, 2], [2, 2])],
    ),
    (
        "chunk_list",
        2,
        "def chunk_list(items: list, size: int) -> list[list]",
        "Split items into consecutive chunks of length size (size >= 1); the last chunk may be shorter.",
        "def chunk_list(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n",
        [(([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]), (([], 3), []), (([1, 2], 5), [[1, 2]])],
        [([1, 2, 3], 1), ([1, 2, 3, 4], 2), (["a", "b", "c", "d", "e", "f", "g"], 3)],
    ),
    (
        "gcd_list",
        2,
        "def gcd_list(nums: list[int]) -> int",
        "Return the greatest common divisor of the non-negative integers in the non-empty list nums "
        "(the gcd of zeros is 0).",
        "def gcd_list(nums):\n"
        "    g = 0\n"
        "    for x in nums:\n"
        "        a, b = g, x\n"
        "        while b:\n"
        "            a, b = b, a % b\n"
        "        g = a\n"
        "    return g\n",
        [(([12, 18, 24],), 6), (([7],), 7), (([0, 5],), 5)],
        [([0, 0],), ([17, 34, 51],), ([100, 75, 50, 25],), ([13, 17],)],
    ),
    (
        "primes_up_to",
        2,
        "def primes_up_to(n: int) -> list[int]",
        "Return all prime numbers less than or equal to n, in increasing order.",
        "def primes_up_to(n):\n"
        "    if n < 2:\n"
        "        return []\n"
        "    sieve = [True] * (n + 1)\n"
        "    sieve[0] = sieve[1] = False\n"
        "    for i in range(2, int(n ** 0.5) + 1):\n"
        "        if sieve[i]:\n"
        "            for j in range(i * i, n + 1, i):\n"
        "                sieve[j] = False\n"
        "    return [i for i, p in enumerate(sieve) if p]\n",
        [((10,), [2, 3, 5, 7]), ((1,), []), ((2,), [2])],
        [(0,), (30,), (100,), (97,)],
    ),
    (
        "digital_root",
        2,
        "def digital_root(n: int) -> int",
        "Repeatedly replace the non-negative integer n by the sum of its digits until a single digit remains, "
        "and return it.",
        "def digital_root(n):\n    while n >= 10:\n        n = sum(int(c) for c in str(n))\n    return n\n",
        [((16,), 7), ((942,), 6), ((0,), 0)],
        [(9,), (132189,), (493193,), (1000000000000000000,)],
    ),
    (
        "transpose",
        2,
        "def transpose(matrix: list[list[int]]) -> list[list[int]]",
        "Return the transpose of the rectangular matrix (a list of rows); the transpose of [] is [].",
        "def transpose(matrix):\n    return [list(row) for row in zip(*matrix)]\n",
        [(([[1, 2, 3], [4, 5, 6]],), [[1, 4], [2, 5], [3, 6]]), (([],), []), (([[1]],), [[1]])],
        [([[1, 2]],), ([[1], [2], [3]],), ([[1, 2], [3, 4]],)],
    ),
    (
        "group_by_length",
        2,
        "def group_by_length(words: list[str]) -> dict[int, list[str]]",
        "Group words by length: return a dictionary mapping each length to the list of words of that length, "
        "in their original order.",
        "def group_by_length(words):\n"
        "    groups = {}\n"
        "    for w in words:\n"
        "        groups.setdefault(len(w), []).append(w)\n"
        "    return groups\n",
        [((["a", "bb", "c"],), {1: ["a", "c"], 2: ["bb"]}), (([],), {}), ((["xy"],), {2: ["xy"]})],
        [(["hello", "world", "hi", "abc"],), (["", ""],), (["one", "two", "three", "four"],)],
    ),
    (
        "balanced_brackets",
        2,
        "def balanced_brackets(s: str) -> bool",
        "Return True if the brackets (), [] and {} in s are balanced and properly nested; ignore every other "
        "character.",
        "def balanced_brackets(s):\n"
        "    pairs = {')': '(', ']': '[', '}': '{'}\n"
        "    stack = []\n"
        "    for c in s:\n"
        "        if c in '([{':\n"
        "            stack.append(c)\n"
        "        elif c in pairs:\n"
        "            if not stack or stack.pop() != pairs[c]:\n"
        "                return False\n"
        "    return not stack\n",
        [(("([]{})",), True), (("([)]",), False), (("",), True)],
        [("((",), ("a(b)c[d]",), ("}{",), ("{[()()]}",), ("(]",)],
    ),
    (
        "most_common_char",
        2,
        "def most_common_char(s: str) -> str",
        "Return the character that occurs most often in s; on a tie, the one that appears first in s; '' for "
        "an empty string.",
        "def most_common_char(s):\n"
        "    counts = {}\n"
        "    for c in s:\n"
        "        counts[c] = counts.get(c, 0) + 1\n"
        "    best = max(counts.values(), default=0)\n"
        "    for c in s:\n"
        "        if counts[c] == best:\n"
        "            return c\n"
        "    return ''\n",
        [(("abracadabra",), "a"), (("",), ""), (("abcabc",), "a")],
        [("zzyy",), ("mississippi",), ("x",), ("aabbbcc",)],
    ),
    (
        "pascal_row",
        2,
        "def pascal_row(n: int) -> list[int]",
        "Return row n of Pascal's triangle (row 0 is [1], row 1 is [1, 1]).",
        "def pascal_row(n):\n"
        "    row = [1]\n"
        "    for _ in range(n):\n"
        "        row = [a + b for a, b in zip([0] + row, row + [0])]\n"
        "    return row\n",
        [((0,), [1]), ((1,), [1, 1]), ((4,), [1, 4, 6, 4, 1])],
        [(2,), (10,), (20,)],
    ),
    (
        "collatz_steps",
        2,
        "def collatz_steps(n: int) -> int",
        "Return how many steps the Collatz process takes to reach 1 from n >= 1 (a step maps even k to k // 2 "
        "and odd k to 3 * k + 1).",
        "def collatz_steps(n):\n"
        "    steps = 0\n"
        "    while n != 1:\n"
        "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
        "        steps += 1\n"
        "    return steps\n",
        [((1,), 0), ((6,), 8), ((7,), 16)],
        [(2,), (27,), (97,), (1000,)],
    ),
    (
        "two_sum",
        2,
        "def two_sum(nums: list[int], target: int) -> list[int]",
        "Return the indices [i, j] with i < j of the two elements of nums that add up to target (exactly one "
        "such pair exists).",
        "def two_sum(nums, target):\n"
        "    seen = {}\n"
        "    for j, x in enumerate(nums):\n"
        "        if target - x in seen:\n"
        "            return [seen[target - x], j]\n"
        "        seen.setdefault(x, j)\n"
        "    return []\n",
        [(([2, 7, 11, 15], 9), [0, 1]), (([3, 2, 4], 6), [1, 2]), (([3, 3], 6), [0, 1])],
        [([1, 5, 9, -4], 5), ([0, 4, 3, 0], 0), ([-1, -2, -3, -4, -5], -8), ([10, 20, 30, 40, 50], 90)],
    ),
    (
        "spiral_order",
        2,
        "def spiral_order(matrix: list[list[int]]) -> list[int]",
        "Return the elements of the rectangular matrix in clockwise spiral order, starting at the top-left "
        "corner and going right first.",
        "def spiral_order(m):\n"
        "    out = []\n"
        "    top, bottom, left, right = 0, len(m) - 1, 0, (len(m[0]) - 1 if m else -1)\n"
        "    while top <= bottom and left <= right:\n"
        "        for j in range(left, right + 1):\n"
        "            out.append(m[top][j])\n"
        "        top += 1\n"
        "        for i in range(top, bottom + 1):\n"
        "            out.append(m[i][right])\n"
        "        right -= 1\n"
        "        if top <= bottom:\n"
        "            for j in range(right, left - 1, -1):\n"
        "                out.append(m[bottom][j])\n"
        "            bottom -= 1\n"
        "        if left <= right:\n"
        "            for i in range(bottom, top - 1, -1):\n"
        "                out.append(m[i][left])\n"
        "            left += 1\n"
        "    return out\n",
        [
            (([[1, 2, 3], [4, 5, 6], [7, 8, 9]],), [1, 2, 3, 6, 9, 8, 7, 4, 5]),
            (([],), []),
            (([[1, 2], [3, 4]],), [1, 2, 4, 3]),
        ],
        [([[1, 2, 3, 4]],), ([[1], [2], [3]],), ([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]],)],
    ),
    (
        "compress_ranges",
        2,
        "def compress_ranges(nums: list[int]) -> str",
        "Given sorted distinct integers, return them as comma-separated ranges: a run of consecutive numbers "
        "a..b (b > a) becomes 'a-b', a single number stays as it is, e.g. [1, 2, 3, 5, 7, 8] -> '1-3,5,7-8'.",
        "def compress_ranges(nums):\n"
        "    parts, i = [], 0\n"
        "    while i < len(nums):\n"
        "        j = i\n"
        "        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:\n"
        "            j += 1\n"
        "        parts.append(str(nums[i]) if i == j else f'{nums[i]}-{nums[j]}')\n"
        "        i = j + 1\n"
        "    return ','.join(parts)\n",
        [(([1, 2, 3, 5, 7, 8],), "1-3,5,7-8"), (([],), ""), (([4],), "4")],
        [([1, 3, 5],), ([1, 2],), ([10, 11, 12, 20, 21, 30],), ([0, 2, 3, 4, 6],)],
    ),
    (
        "valid_ipv4",
        2,
        "def valid_ipv4(s: str) -> bool",
        "Return True if s is a valid IPv4 address: four decimal numbers from 0 to 255 separated by dots, made "
        "of ASCII digits only, without leading zeros (except the number 0 itself).",
        "def valid_ipv4(s):\n"
        "    parts = s.split('.')\n"
        "    if len(parts) != 4:\n"
        "        return False\n"
        "    for p in parts:\n"
        "        if not p or any(c not in '0123456789' for c in p):\n"
        "            return False\n"
        "        if len(p) > 1 and p[0] == '0':\n"
        "            return False\n"
        "        if int(p) > 255:\n"
        "            return False\n"
        "    return True\n",
        [(("192.168.1.1",), True), (("256.1.1.1",), False), (("01.2.3.4",), False)],
        [("0.0.0.0",), ("1.2.3",), ("1.2.3.4.5",), ("a.b.c.d",), ("255.255.255.255",), ("1..2.3",), (" 1.2.3.4",)],
    ),
    (
        "snake_to_camel",
        2,
        "def snake_to_camel(s: str) -> str",
        "Convert a snake_case name (lower-case words joined by single underscores) to camelCase, e.g. "
        "'make_it_work' -> 'makeItWork'.",
        "def snake_to_camel(s):\n"
        "    parts = s.split('_')\n"
        "    return parts[0] + ''.join(p[:1].upper() + p[1:] for p in parts[1:])\n",
        [(("hello_world",), "helloWorld"), (("a",), "a"), (("make_it_work",), "makeItWork")],
        [("x_y_z",), ("snake_case_to_camel_case",), ("",)],
    ),
    (
        "count_islands",
        2,
        "def count_islands(grid: list[str]) -> int",
        "grid is a list of equally long strings of '#' (land) and '.' (water). Return the number of islands: "
        "groups of land cells connected horizontally or vertically.",
        "def count_islands(grid):\n"
        "    seen = set()\n"
        "    count = 0\n"
        "    for r in range(len(grid)):\n"
        "        for c in range(len(grid[r])):\n"
        "            if grid[r][c] == '#' and (r, c) not in seen:\n"
        "                count += 1\n"
        "                stack = [(r, c)]\n"
        "                seen.add((r, c))\n"
        "                while stack:\n"
        "                    y, x = stack.pop()\n"
        "                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):\n"
        "                        if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] == '#' \\\n"
        "                                and (ny, nx) not in seen:\n"
        "                            seen.add((ny, nx))\n"
        "                            stack.append((ny, nx))\n"
        "    return count\n",
        [((["#..", "..#", "..#"],), 2), (([],), 0), ((["###", "#.#", "###"],), 1)],
        [(["#.#.#"],), (["....", ".##.", ".##.", "...."],), (["#.", ".#"],), (["#"],)],
    ),
    # ------------------------------------------------------------------------------------ difficulty 3
    (
        "longest_common_prefix",
        3,
        "def longest_common_prefix(strs: list[str]) -> str",
        "Return the longest string that is a prefix of every string in strs ('' for an empty list).",
        "def longest_common_prefix(strs):\n"
        "    if not strs:\n"
        "        return ''\n"
        "    prefix = strs[0]\n"
        "    for s in strs[1:]:\n"
        "        while not s.startswith(prefix):\n"
        "            prefix = prefix[:-1]\n"
        "    return prefix\n",
        [((["flower", "flow", "flight"],), "fl"), ((["dog", "racecar", "car"],), ""), (([],), "")],
        [(["a"],), (["abc", "abc"],), (["", "abc"],), (["prefix", "pre", "prepare"],)],
    ),
    (
        "lis_length",
        3,
        "def lis_length(nums: list[int]) -> int",
        "Return the length of the longest strictly increasing subsequence of nums.",
        "def lis_length(nums):\n"
        "    import bisect\n"
        "    tails = []\n"
        "    for x in nums:\n"
        "        i = bisect.bisect_left(tails, x)\n"
        "        if i == len(tails):\n"
        "            tails.append(x)\n"
        "        else:\n"
        "            tails[i] = x\n"
        "    return len(tails)\n",
        [(([10, 9, 2, 5, 3, 7, 101, 18],), 4), (([],), 0), (([7, 7, 7],), 1)],
        [([0, 1, 0, 3, 2, 3],), ([1, 2, 3, 4, 5],), ([5, 4, 3, 2, 1],), ([3, 10, 2, 1, 20, 4, 6, 7, 8],)],
    ),
    (
        "edit_distance",
        3,
        "def edit_distance(a: str, b: str) -> int",
        "Return the Levenshtein distance between a and b: the least number of single-character insertions, "
        "deletions and substitutions that turn a into b.",
        "def edit_distance(a, b):\n"
        "    prev = list(range(len(b) + 1))\n"
        "    for i, ca in enumerate(a, 1):\n"
        "        cur = [i]\n"
        "        for j, cb in enumerate(b, 1):\n"
        "            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))\n"
        "        prev = cur\n"
        "    return prev[-1]\n",
        [(("kitten", "sitting"), 3), (("", "abc"), 3), (("same", "same"), 0)],
        [("horse", "ros"), ("intention", "execution"), ("a", ""), ("abc", "cba")],
    ),
    (
        "min_coins",
        3,
        "def min_coins(coins: list[int], amount: int) -> int",
        "Return the fewest coins (each value in coins may be used any number of times) that add up to amount, "
        "or -1 if amount cannot be made. Zero needs no coins.",
        "def min_coins(coins, amount):\n"
        "    inf = float('inf')\n"
        "    best = [0] + [inf] * amount\n"
        "    for a in range(1, amount + 1):\n"
        "        for c in coins:\n"
        "            if c <= a and best[a - c] + 1 < best[a]:\n"
        "                best[a] = best[a - c] + 1\n"
        "    return -1 if best[amount] == inf else best[amount]\n",
        [(([1, 2, 5], 11), 3), (([2], 3), -1), (([1], 0), 0)],
        [([3, 7], 5), ([1, 5, 10, 25], 63), ([2, 5, 10, 1], 27), ([186, 419, 83, 408], 6249)],
    ),
    (
        "knapsack",
        3,
        "def knapsack(weights: list[int], values: list[int], capacity: int) -> int",
        "0/1 knapsack: return the largest total value of a subset of the items (item i has weights[i] and "
        "values[i]; each item used at most once) whose total weight is at most capacity.",
        "def knapsack(weights, values, capacity):\n"
        "    best = [0] * (capacity + 1)\n"
        "    for w, v in zip(weights, values):\n"
        "        for c in range(capacity, w - 1, -1):\n"
        "            best[c] = max(best[c], best[c - w] + v)\n"
        "    return best[capacity]\n",
        [(([1, 3, 4, 5], [1, 4, 5, 7], 7), 9), (([], [], 10), 0), (([5], [10], 4), 0)],
        [([2, 3, 4, 5], [3, 4, 5, 6], 5), ([10, 20, 30], [60, 100, 120], 50), ([1, 1, 1], [1, 2, 3], 2)],
    ),
    (
        "longest_palindromic_substring",
        3,
        "def longest_palindromic_substring(s: str) -> str",
        "Return the longest substring of s that is a palindrome; if several are equally long, the leftmost.",
        "def longest_palindromic_substring(s):\n"
        "    best = ''\n"
        "    for center in range(2 * len(s) - 1):\n"
        "        lo, hi = center // 2, center // 2 + center % 2\n"
        "        while lo >= 0 and hi < len(s) and s[lo] == s[hi]:\n"
        "            lo -= 1\n"
        "            hi += 1\n"
        "        if hi - lo - 1 > len(best):\n"
        "            best = s[lo + 1:hi]\n"
        "    return best\n",
        [(("babad",), "bab"), (("cbbd",), "bb"), (("",), "")],
        [("a",), ("forgeeksskeegfor",), ("abacdfgdcaba",), ("racecar",), ("abcd",)],
    ),
    (
        "unique_paths",
        3,
        "def unique_paths(grid: list[list[int]]) -> int",
        "grid is a rectangular list of rows of 0 (free) and 1 (obstacle). Count the paths from the top-left to "
        "the bottom-right cell that move only right or down through free cells (0 for an empty grid or when "
        "either corner is blocked).",
        "def unique_paths(grid):\n"
        "    if not grid or not grid[0]:\n"
        "        return 0\n"
        "    ways = [0] * len(grid[0])\n"
        "    ways[0] = 1\n"
        "    for row in grid:\n"
        "        for j, cell in enumerate(row):\n"
        "            if cell:\n"
        "                ways[j] = 0\n"
        "            elif j:\n"
        "                ways[j] += ways[j - 1]\n"
        "    return ways[-1]\n",
        [(([[0, 0, 0], [0, 1, 0], [0, 0, 0]],), 2), (([[1]],), 0), (([[0]],), 1)],
        [
            ([[0, 1], [0, 0]],),
            ([[0, 0], [1, 1], [0, 0]],),
            ([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],),
            ([],),
        ],
    ),
    (
        "eval_rpn",
        3,
        "def eval_rpn(tokens: list[str]) -> int",
        "Evaluate an expression in reverse Polish notation: tokens are integers and the operators + - * /, "
        "where / is integer division that truncates toward zero. The expression is valid.",
        "def eval_rpn(tokens):\n"
        "    stack = []\n"
        "    for t in tokens:\n"
        "        if t in ('+', '-', '*', '/'):\n"
        "            b, a = stack.pop(), stack.pop()\n"
        "            if t == '+':\n"
        "                stack.append(a + b)\n"
        "            elif t == '-':\n"
        "                stack.append(a - b)\n"
        "            elif t == '*':\n"
        "                stack.append(a * b)\n"
        "            else:\n"
        "                q = abs(a) // abs(b)\n"
        "                stack.append(q if (a >= 0) == (b >= 0) else -q)\n"
        "        else:\n"
        "            stack.append(int(t))\n"
        "    return stack[-1]\n",
        [((["2", "1", "+", "3", "*"],), 9), ((["4", "13", "5", "/", "+"],), 6), ((["7"],), 7)],
        [
            (["10", "6", "9", "3", "+", "-11", "*", "/", "*", "17", "+", "5", "+"],),
            (["-7", "2", "/"],),
            (["3", "4", "-"],),
            (["2", "3", "4", "*", "+"],),
        ],
    ),
    (
        "topo_order",
        3,
        "def topo_order(n: int, edges: list[list[int]]) -> list[int]",
        "Nodes are 0..n-1 and each edge [u, v] means u must come before v. Return the lexicographically "
        "smallest ordering of all nodes that respects every edge, or [] if there is a cycle.",
        "def topo_order(n, edges):\n"
        "    import heapq\n"
        "    indegree = [0] * n\n"
        "    out_edges = [[] for _ in range(n)]\n"
        "    for u, v in edges:\n"
        "        out_edges[u].append(v)\n"
        "        indegree[v] += 1\n"
        "    heap = [i for i in range(n) if indegree[i] == 0]\n"
        "    heapq.heapify(heap)\n"
        "    order = []\n"
        "    while heap:\n"
        "        u = heapq.heappop(heap)\n"
        "        order.append(u)\n"
        "        for v in out_edges[u]:\n"
        "            indegree[v] -= 1\n"
        "            if indegree[v] == 0:\n"
        "                heapq.heappush(heap, v)\n"
        "    return order if len(order) == n else []\n",
        [((3, [[0, 1], [1, 2]]), [0, 1, 2]), ((2, [[0, 1], [1, 0]]), []), ((3, []), [0, 1, 2])],
        [
            (4, [[3, 0], [2, 0], [1, 3]]),
            (5, [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]]),
            (1, []),
            (3, [[0, 1], [1, 2], [2, 1]]),
        ],
    ),
    (
        "shortest_path_grid",
        3,
        "def shortest_path_grid(grid: list[str]) -> int",
        "grid is a list of equally long strings with one 'S' (start), one 'E' (end), walls '#' and free cells "
        "'.'. Return the least number of horizontal or vertical moves from S to E avoiding walls, or -1 if E "
        "cannot be reached.",
        "def shortest_path_grid(grid):\n"
        "    from collections import deque\n"
        "    rows, cols = len(grid), len(grid[0])\n"
        "    start = next((r, c) for r in range(rows) for c in range(cols) if grid[r][c] == 'S')\n"
        "    dist = {start: 0}\n"
        "    queue = deque([start])\n"
        "    while queue:\n"
        "        r, c = queue.popleft()\n"
        "        if grid[r][c] == 'E':\n"
        "            return dist[(r, c)]\n"
        "        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):\n"
        "            if 0 <= nr < rows and 0 <= nc < cols and grid[nr][nc] != '#' and (nr, nc) not in dist:\n"
        "                dist[(nr, nc)] = dist[(r, c)] + 1\n"
        "                queue.append((nr, nc))\n"
        "    return -1\n",
        [((["S.E"],), 2), ((["S#E"],), -1), ((["S..", "##.", "E.."],), 6)],
        [(["SE"],), (["S...", "###.", "E...", "...."],), (["S.#", ".##", "..E"],), (["S#", "#E"],)],
    ),
    (
        "word_break",
        3,
        "def word_break(s: str, words: list[str]) -> bool",
        "Return True if s can be split into a sequence of one or more words from words (each word may be used "
        "any number of times); the empty string counts as splittable.",
        "def word_break(s, words):\n"
        "    vocab = set(words)\n"
        "    ok = [True] + [False] * len(s)\n"
        "    for i in range(1, len(s) + 1):\n"
        "        ok[i] = any(ok[j] and s[j:i] in vocab for j in range(i))\n"
        "    return ok[len(s)]\n",
        [
            (("leetcode", ["leet", "code"]), True),
            (("catsandog", ["cats", "dog", "sand", "and", "cat"]), False),
            (("", ["a"]), True),
        ],
        [
            ("applepenapple", ["apple", "pen"]),
            ("aaaaaaa", ["aaaa", "aaa"]),
            ("ab", ["a"]),
            ("catsanddog", ["cat", "cats", "and", "sand", "dog"]),
        ],
    ),
    (
        "max_subarray_sum",
        3,
        "def max_subarray_sum(nums: list[int]) -> int",
        "Return the largest sum of a non-empty contiguous subarray of the non-empty list nums.",
        "def max_subarray_sum(nums):\n"
        "    best = cur = nums[0]\n"
        "    for x in nums[1:]:\n"
        "        cur = max(x, cur + x)\n"
        "        best = max(best, cur)\n"
        "    return best\n",
        [(([-2, 1, -3, 4, -1, 2, 1, -5, 4],), 6), (([1],), 1), (([-3, -1, -2],), -1)],
        [([5, 4, -1, 7, 8],), ([0, 0],), ([-1, 3, -1, 3],), ([2, -10, 3],)],
    ),
    (
        "next_permutation",
        3,
        "def next_permutation(nums: list[int]) -> list[int]",
        "Return the next permutation of nums in lexicographic order; for the last permutation return the first "
        "one (nums sorted in increasing order).",
        "def next_permutation(nums):\n"
        "    a = list(nums)\n"
        "    i = len(a) - 2\n"
        "    while i >= 0 and a[i] >= a[i + 1]:\n"
        "        i -= 1\n"
        "    if i >= 0:\n"
        "        j = len(a) - 1\n"
        "        while a[j] <= a[i]:\n"
        "            j -= 1\n"
        "        a[i], a[j] = a[j], a[i]\n"
        "    a[i + 1:] = reversed(a[i + 1:])\n"
        "    return a\n",
        [(([1, 2, 3],), [1, 3, 2]), (([3, 2, 1],), [1, 2, 3]), (([1, 1, 5],), [1, 5, 1])],
        [([1],), ([1, 3, 2],), ([2, 3, 1],), ([1, 5, 8, 4, 7, 6, 5, 3, 1],)],
    ),
    (
        "count_inversions",
        3,
        "def count_inversions(nums: list[int]) -> int",
        "Return the number of pairs of positions i < j with nums[i] > nums[j].",
        "def count_inversions(nums):\n"
        "    def sort(a):\n"
        "        if len(a) <= 1:\n"
        "            return a, 0\n"
        "        left, x = sort(a[:len(a) // 2])\n"
        "        right, y = sort(a[len(a) // 2:])\n"
        "        merged, count, i, j = [], x + y, 0, 0\n"
        "        while i < len(left) and j < len(right):\n"
        "            if left[i] <= right[j]:\n"
        "                merged.append(left[i])\n"
        "                i += 1\n"
        "            else:\n"
        "                merged.append(right[j])\n"
        "                count += len(left) - i\n"
        "                j += 1\n"
        "        return merged + left[i:] + right[j:], count\n"
        "    return sort(list(nums))[1]\n",
        [(([2, 4, 1, 3, 5],), 3), (([],), 0), (([5, 4, 3, 2, 1],), 10)],
        [([1, 2, 3],), ([1, 1, 1],), ([3, 1, 2, 1],), ([8, 4, 2, 1],)],
    ),
    (
        "merge_intervals",
        3,
        "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]",
        "Merge overlapping intervals [start, end] (intervals that touch, like [1, 2] and [2, 3], also merge) and "
        "return the result sorted by start.",
        "def merge_intervals(intervals):\n"
        "    out = []\n"
        "    for start, end in sorted(intervals):\n"
        "        if out and start <= out[-1][1]:\n"
        "            out[-1][1] = max(out[-1][1], end)\n"
        "        else:\n"
        "            out.append([start, end])\n"
        "    return out\n",
        [
            (([[1, 3], [2, 6], [8, 10], [15, 18]],), [[1, 6], [8, 10], [15, 18]]),
            (([],), []),
            (([[1, 4], [4, 5]],), [[1, 5]]),
        ],
        [([[5, 6], [1, 2]],), ([[1, 10], [2, 3], [4, 5]],), ([[1, 2], [3, 4]],), ([[6, 8], [1, 9], [2, 4], [4, 7]],)],
    ),
    (
        "shortest_distances",
        3,
        "def shortest_distances(n: int, edges: list[list[int]], source: int) -> list[int]",
        "A directed graph has nodes 0..n-1 and edges [u, v, w] from u to v with non-negative weight w. Return "
        "the list of shortest distances from source to every node, with -1 for unreachable nodes.",
        "def shortest_distances(n, edges, source):\n"
        "    import heapq\n"
        "    adj = [[] for _ in range(n)]\n"
        "    for u, v, w in edges:\n"
        "        adj[u].append((v, w))\n"
        "    dist = [None] * n\n"
        "    heap = [(0, source)]\n"
        "    while heap:\n"
        "        d, u = heapq.heappop(heap)\n"
        "        if dist[u] is not None:\n"
        "            continue\n"
        "        dist[u] = d\n"
        "        for v, w in adj[u]:\n"
        "            if dist[v] is None:\n"
        "                heapq.heappush(heap, (d + w, v))\n"
        "    return [-1 if d is None else d for d in dist]\n",
        [((3, [[0, 1, 4], [0, 2, 1], [2, 1, 2]], 0), [0, 3, 1]), ((2, [], 0), [0, -1]), ((1, [], 0), [0])],
        [
            (4, [[0, 1, 1], [1, 2, 2], [0, 2, 5], [2, 3, 1]], 0),
            (3, [[1, 0, 1]], 0),
            (5, [[0, 1, 10], [0, 2, 3], [2, 1, 4], [1, 3, 2], [2, 3, 8], [3, 4, 7]], 0),
            (3, [[0, 1, 0], [1, 2, 0]], 2),
        ],
    ),
]


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
    """The built-in tasks, in a fixed order (hidden expected values computed once from the reference solutions)."""
    tasks = []
    for name, difficulty, signature, description, solution, examples, hidden_args in _SPECS:
        reference = _reference(solution, name)
        visible = tuple(TestCase("call", args=tuple(args), expected=expected) for args, expected in examples)
        hidden = tuple(
            TestCase("call", hidden=True, args=tuple(args), expected=reference(*copy.deepcopy(args)))
            for args in hidden_args
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
