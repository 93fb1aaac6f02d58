"""Every command and code block of docs/*.md runs as written (docs/README.md states the conventions).

One test per page; its blocks run in order in one temporary directory (recipes/ and accelerate_configs/ linked
into it), with HF_HUB_OFFLINE=1:

* ```` ```python ````: executed in one namespace per page, in this process.
* ```` ```bash ````: run with ``bash -euo pipefail``, PYTHONPATH set to the repository, ``python``/``accelerate``
  from this interpreter's environment and ``mrlm-hf`` from this checkout.
* ```` ```bash gpu ````: commands that need GPUs or several machines are checked, not run: each ``--config_file``,
  recipe and ``--config`` YAML exists, and the recipe's parser accepts the flags (parsed with ``--use_cpu true``
  added, since a bf16 setting is refused without a GPU).
* ```` ```text ````: output, not run.

A failing block fails its page's test with the page and the block's first line. docs/datasets.md is run by
tests/test_docs_datasets.py on stand-in rows of the public datasets.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import traceback
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from mrlm_hf.envs.registry import _REGISTRY

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
COVERED_ELSEWHERE = {"datasets.md": "tests/test_docs_datasets.py"}
KINDS = {("python", ""), ("bash", ""), ("bash", "gpu"), ("text", "")}
FENCE = re.compile(r"^```(\S*)[ \t]*(\S*)[ \t]*$")


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str
    tag: str
    code: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}, block at line {self.line} (```{self.lang} {self.tag}".rstrip() + ")"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order; an unclosed fence is an error."""
    found, current, body = [], None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if current is None and match:
            current, body = (number, match.group(1), match.group(2)), []
        elif current is not None and line.strip() == "```":
            found.append(Block(path.name, current[0], current[1], current[2], "\n".join(body) + "\n"))
            current = None
        elif current is not None:
            body.append(line)
    assert current is None, f"docs/{path.name}: the block opened at line {current[0]} is never closed"
    return found


def pages() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md") if p.name not in COVERED_ELSEWHERE)


def commands(code: str) -> list[list[str]]:
    """Shell commands of a block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


@cache
def recipe_parser(recipe: Path):
    spec = importlib.util.spec_from_file_location(f"docs_recipe_{recipe.stem}", recipe)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.make_parser()


def check_gpu_command(argv: list[str]) -> None:
    """A command that cannot run here: its files exist and its recipe parses its flags."""
    for option in ("--config_file", "--config"):
        for i, token in enumerate(argv[:-1]):
            if token == option:
                assert (ROOT / argv[i + 1]).is_file(), f"{option} {argv[i + 1]}: no such file in the repository"
    scripts = [i for i, token in enumerate(argv) if token.endswith(".py")]
    assert scripts, f"no recipe in {shlex.join(argv)}"
    recipe = ROOT / argv[scripts[0]]
    assert recipe.is_file(), f"{argv[scripts[0]]}: no such recipe"
    assert argv[0] in ("python", "accelerate"), f"unexpected program {argv[0]!r}"
    flags = argv[scripts[0] + 1 :]
    cwd = os.getcwd()
    os.chdir(ROOT)  # --config paths are relative to the repository
    try:
        recipe_parser(recipe).parse_args_and_config(args=[*flags, "--use_cpu", "true"])  # bf16 checks want a GPU
    except (SystemExit, Exception) as error:  # argparse exits; a config's __post_init__ raises ValueError
        raise AssertionError(f"{recipe.name} refused the flags {shlex.join(flags)}: {error!r}") from None
    finally:
        os.chdir(cwd)


def shell_env(bin_dir: Path) -> dict[str, str]:
    shim = bin_dir / "mrlm-hf"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mrlm_hf.cli "$@"\n')
    shim.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}


def run_block(block: Block, namespace: dict, env: dict[str, str]) -> None:
    """Run one block in the current directory; raise AssertionError naming the page and line when it fails."""
    if block.lang == "python":
        try:
            code = "\n" * block.line + block.code  # tracebacks give the line in the page
            exec(compile(code, f"docs/{block.page}", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception:
            raise AssertionError(f"{block.where} failed:\n{traceback.format_exc()}") from None
    elif block.lang == "bash" and block.tag == "gpu":
        for argv in commands(block.code):
            try:
                check_gpu_command(argv)
            except AssertionError as error:
                raise AssertionError(f"{block.where}: {shlex.join(argv)}\n{error}") from None
    elif block.lang == "bash":
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (
            f"{block.where} exited with {done.returncode}:\n{block.code}\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-3000:]}"
        )


def test_every_block_has_a_known_kind() -> None:
    for path in sorted(DOCS.glob("*.md")):
        for block in blocks(path):
            assert (block.lang, block.tag) in KINDS, f"{block.where}: unknown kind; use one of {sorted(KINDS)}"


def test_the_check_fails_on_a_broken_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = shell_env(tmp_path)
    with pytest.raises(AssertionError, match=r"docs/x\.md, block at line 7 \(```python\) failed"):
        run_block(Block("x.md", 7, "python", "", "1 / 0\n"), {}, env)
    with pytest.raises(AssertionError, match=r"docs/x\.md, block at line 3 \(```bash\) exited with 2"):
        run_block(Block("x.md", 3, "bash", "", "true\nmrlm-hf no-such-command\n"), {}, env)
    gpu = "accelerate launch --config_file accelerate_configs/{} recipes/sft.py {}\n"
    run_block(Block("x.md", 1, "bash", "gpu", gpu.format("fsdp2.yaml", "--max_steps 5")), {}, env)
    for config, flags in (("fsdp3.yaml", ""), ("fsdp2.yaml", "--no_such_flag 1"), ("fsdp2.yaml", "--mode x")):
        with pytest.raises(AssertionError, match=r"docs/x\.md, block at line 1 \(```bash gpu\)"):
            run_block(Block("x.md", 1, "bash", "gpu", gpu.format(config, flags)), {}, env)


@pytest.mark.parametrize("page", pages())
def test_page_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("recipes", "accelerate_configs"):
        (work / name).symlink_to(ROOT / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = shell_env(bin_dir)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the page's Python blocks run as one module (classes they define can be found by name, as in a script)
    module = types.ModuleType(f"docs_{Path(page).stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    registered = dict(_REGISTRY)
    try:
        for block in blocks(DOCS / page):
            run_block(block, module.__dict__, env)
    finally:  # environments a page registers do not leak into other tests
        _REGISTRY.clear()
        _REGISTRY.update(registered)
