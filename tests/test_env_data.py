"""The built-in task data (``mrlm_hf/envs/data/*.jsonl``) is what the code held before it moved to data files.

The fingerprints below were computed on ``main`` before the move (tasks and topics then lived in Python literals in
``envs/code_tasks.py`` and ``envs/debate.py``); a change to the data files must update them on purpose.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from mrlm_hf.envs.code_tasks import builtin_tasks
from mrlm_hf.envs.data import data_file, read_jsonl
from mrlm_hf.envs.debate import BUILTIN_TOPICS

CODE_TASKS = (61, "06a3edb1853ab9ced51c4c54ee1ae2171a1eea469188be99e4f4efd560d940d1")
DEBATE_TOPICS = (32, "d11fdd97ab92c3fdce6885191ebb336df7f73b28b2dd225b230eaff93847c504")


def _digest(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_builtin_code_tasks_are_unchanged_by_the_move():
    rows = []
    for t in builtin_tasks():
        tests = [[c.kind, c.hidden, repr(c.args), repr(c.expected), c.source, c.stdin] for c in t.tests]
        examples = [[c.kind, c.hidden, repr(c.args), repr(c.expected)] for c in t.examples]
        rows.append(
            [
                t.task_id,
                t.prompt,
                t.entry_point,
                t.solution,
                t.difficulty,
                t.signature,
                t.setup,
                t.timeout,
                tests,
                examples,
            ]
        )
    assert (len(rows), _digest(rows)) == CODE_TASKS


def test_builtin_debate_topics_are_unchanged_by_the_move():
    rows = [[k, t.to_dict(), [[p.key, p.side] for p in t.points]] for k, t in BUILTIN_TOPICS.items()]
    assert (len(rows), _digest(rows)) == DEBATE_TOPICS


@pytest.mark.parametrize("name", ["code_tasks.jsonl", "debate_topics.jsonl"])
def test_data_files_load_as_datasets(name, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=data_file(name), split="train", cache_dir=str(tmp_path))
    assert ds.to_list() == read_jsonl(name)


def test_missing_data_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no_such.jsonl"):
        data_file("no_such.jsonl")
