"""Data files of the built-in environments, shipped with the package (package data, see pyproject.toml).

* ``code_tasks.jsonl``: the built-in ``code`` tasks, one per line: ``name``, ``difficulty``, ``signature``,
  ``description``, ``solution`` (the reference), ``examples`` (``{"args", "expected"}``, shown in the prompt) and
  ``hidden_args``. Arguments and values are Python literals as text (``"(3, [1, 2])"``, read with
  ``ast.literal_eval``) so that tuples, big integers and the like survive exactly; the hidden expected values are
  computed from the reference solution.
* ``debate_topics.jsonl``: the built-in ``debate`` motions, one per line, in the form ``parse_topic`` reads
  (``id``, ``motion``, ``keywords``, ``pro``, ``con``; points as ``"TEXT | SHORT | GROUP / GROUP ..."``).

Both read with the standard library (``read_jsonl``) or as a dataset:
``datasets.load_dataset("json", data_files=data_file("debate_topics.jsonl"), split="train")``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["data_file", "read_jsonl"]


def data_file(name: str) -> str:
    """The path of the shipped data file ``name`` (e.g. ``"code_tasks.jsonl"``)."""
    path = resources.files(__name__) / name
    if not path.is_file():
        raise FileNotFoundError(f"No data file {name!r} in {__name__}; the package may be installed without its data.")
    return str(path)


def read_jsonl(name: str) -> list[dict[str, Any]]:
    """The rows of the shipped JSON Lines file ``name``, in file order."""
    with open(data_file(name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
