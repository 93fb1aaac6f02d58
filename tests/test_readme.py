"""The README's Python quick start runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs(tmp_path, monkeypatch):
    code = re.search(r"## Quick start in Python\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)  # noqa: S102 - our own documentation
    assert len(namespace["data"]) > 200
    assert namespace["trainer"].state.global_step == 100
    assert (tmp_path / "math-expert").is_dir()
