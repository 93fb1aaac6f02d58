"""Read every row of a task dataset once: parsed and checked when an environment is made, shared by fingerprint.

``MathEnv`` and ``CodeEnv`` check every row of a user dataset up front (a bad row fails at construction, naming
the row, not hours later when ``reset`` first reaches it). A collector builds many environments from the same
kwargs; the parsed rows of a ``datasets.Dataset`` are therefore kept under its fingerprint (which names its
content) for the last few datasets, so each is parsed once per process. Lists of rows are parsed every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["parse_rows"]

T = TypeVar("T")

#: How many parsed datasets are kept.
MAX_CACHED = 8
_CACHE: OrderedDict[tuple[str, Hashable], tuple[Any, ...]] = OrderedDict()
_LOCK = threading.Lock()


def parse_rows(dataset: Any, parse: Callable[[Any, int], T], key: Hashable = ()) -> tuple[T, ...]:
    """``parse(row, index)`` for every row of ``dataset`` (the first error propagates), cached by the dataset's
    fingerprint and ``key`` (whatever else the parsing depends on, e.g. column names)."""
    fingerprint = getattr(dataset, "_fingerprint", None)
    cache_key = (fingerprint, (getattr(parse, "__qualname__", repr(parse)), key))
    if isinstance(fingerprint, str):
        with _LOCK:
            if cache_key in _CACHE:
                _CACHE.move_to_end(cache_key)
                return _CACHE[cache_key]
    parsed = tuple(parse(row, index) for index, row in enumerate(dataset))
    if isinstance(fingerprint, str):
        with _LOCK:
            _CACHE[cache_key] = parsed
            while len(_CACHE) > MAX_CACHED:
                _CACHE.popitem(last=False)
    return parsed
