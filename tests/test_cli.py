"""The ``mrlm-hf`` command line on tiny offline assets: every subcommand, its help, and a light ``--help``."""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mrlm_hf import cli
from mrlm_hf.data import load_trajectories

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "datasets", "trl")


def run_cli(capsys, *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Expert gridworld trajectories on disk and a tiny (untrained) model + tokenizer directory."""
    from mrlm_hf import ExpertPolicy, collect_trajectories, save_trajectories
    from mrlm_hf.tiny import build_model, build_tokenizer

    root = tmp_path_factory.mktemp("cli")
    data = collect_trajectories(
        "gridworld", ExpertPolicy(), 4, env_kwargs={"size": 3, "difficulty": 0}, seed=7, progress=False
    )
    save_trajectories(data, root / "traj")
    tokenizer = build_tokenizer([t for row in data for t in (*row["observations"], *row["actions"])], vocab_size=300)
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    return root


# ------------------------------------------------------------------------------------------------ help
def test_console_script_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["mrlm-hf"].partition(":")
    assert module == "mrlm_hf.cli" and callable(getattr(cli, function))


def test_help_imports_no_heavy_library():
    """cli.py loaded on its own (as the console script does once mrlm_hf/__init__ is lazy) imports nothing heavy
    for --help, including every subcommand's --help."""
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("mrlm_cli", {str(ROOT / "mrlm_hf" / "cli.py")!r})
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
for argv in (["--help"], *([c, "--help"] for c in ("envs", "collect", "train", "eval", "inspect", "push"))):
    try:
        module.main(argv)
    except SystemExit as exc:
        assert exc.code == 0, argv
print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "usage: mrlm-hf" in out and "HEAVY []" in out


def test_help_through_the_package_is_light():
    init = ast.parse((ROOT / "mrlm_hf" / "__init__.py").read_text())
    if any(isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mrlm_hf.") for node in init.body):
        pytest.skip("mrlm_hf/__init__.py imports its submodules eagerly; `mrlm-hf --help` is light once it is lazy")
    code = "import sys\nfrom mrlm_hf.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    code += f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_every_option_is_explained():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == {"envs", "collect", "train", "eval", "inspect", "push"}
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help and len(action.help) > 10, (name, action.dest)


# ------------------------------------------------------------------------------------------------ envs
def test_envs_reads_action_formats_and_rewards_from_the_classes(capsys):
    from mrlm_hf.envs import TextEnv, list_envs, register_env
    from mrlm_hf.envs.registry import _REGISTRY

    class EchoEnv(TextEnv):
        """Say the magic word.

        Actions: the word ``please``, nothing else.

        Reward: 0.7 when the action is ``please``.
        """

        def __init__(self, loudness: int = 3) -> None:
            super().__init__(max_turns=1)

        def _reset(self, options):
            return "Say it.", {}

        def _step(self, action):
            return "ok", 0.7, True, {}

        def expert_action(self):
            return "please"

    register_env("echo_cli_test", EchoEnv)
    try:
        described = {e["name"]: e for e in json.loads(run_cli(capsys, "envs", "--json"))}
        text = run_cli(capsys, "envs", "echo_cli_test", "gridworld")
    finally:
        del _REGISTRY["echo_cli_test"]
    assert set(list_envs()) <= set(described)
    for env in described.values():
        assert env["action_format"] and env["reward"] and env["summary"], env["name"]
    echo = described["echo_cli_test"]
    assert "please" in echo["action_format"] and "0.7" in echo["reward"] and echo["arguments"] == {"loudness": 3}
    assert "up" in described["gridworld"]["action_format"] and "+1.0" in described["gridworld"]["reward"]
    assert "1.0 for a correct answer" in described["math"]["reward"]
    assert "echo_cli_test" in text and "loudness=3" in text and "gridworld" in text and "math" not in text
    assert cli.main(["envs", "no_such_env"]) == 2


# ------------------------------------------------------------------------------------------------ collect
def test_collect_expert_and_random(capsys, tmp_path):
    out = run_cli(
        capsys, "collect", "gridworld", "--episodes", "5", "--seed", "3", "--env-kwargs",
        '{"size": 3, "difficulty": 0}', "--output", str(tmp_path / "e.parquet"), "--quiet",
    )  # fmt: skip
    data = load_trajectories(tmp_path / "e.parquet")
    assert len(data) == 5 and sorted(data["seed"]) == [3, 4, 5, 6, 7] and all(data["success"])
    assert json.loads(data[0]["env_kwargs"])["size"] == 3 and "success 100.0%" in out
    run_cli(capsys, "collect", "gridworld", "--policy", "random", "--episodes", "3", "-o", str(tmp_path / "r"))
    random_data = load_trajectories(tmp_path / "r")
    assert {json.loads(m)["policy"] for m in random_data["metadata"]} == {"random"}
    with pytest.raises(SystemExit, match="--output"):
        cli.main(["collect", "gridworld"])
    with pytest.raises(SystemExit):  # a malformed --env-kwargs is an argparse error
        cli.main(["collect", "gridworld", "--env-kwargs", "{size: 3}", "-o", str(tmp_path / "x")])


def test_collect_with_a_saved_model_and_eval(capsys, assets, tmp_path):
    run_cli(
        capsys, "collect", "gridworld", "--policy", str(assets / "model"), "--episodes", "2", "--env-kwargs",
        '{"size": 3, "difficulty": 0, "max_turns": 2}', "--max-new-tokens", "4", "-o", str(tmp_path / "m"), "--quiet",
    )  # fmt: skip
    data = load_trajectories(tmp_path / "m")
    assert len(data) == 2 and {json.loads(m)["policy"] for m in data["metadata"]} == {"model"}
    results = json.loads(
        run_cli(
            capsys,
            "eval",
            str(assets / "model"),
            "--env",
            "gridworld",
            "--env-kwargs",
            '{"size": 3, "difficulty": 0, "max_turns": 2}',
            "--episodes",
            "2",
            "--wm-transitions",
            "3",
            "--wm-data",
            str(assets / "traj"),
            "--max-new-tokens",
            "4",
            "--json",
            "--quiet",
        )  # fmt: skip
    )
    assert results["env_num_trajectories"] == 2 and 0.0 <= results["env_success_rate"] <= 1.0
    assert results["wm_num_transitions"] == 3 and 0.0 <= results["wm_exact_match"] <= 1.0
    table = run_cli(
        capsys, "eval", str(assets / "model"), "--env", "gridworld", "--env-kwargs", '{"size": 3, "max_turns": 1}',
        "--episodes", "0", "--wm-transitions", "1", "--wm-episodes", "1", "--max-new-tokens", "2",
    )  # fmt: skip
    assert "wm_exact_match" in table and "env_success_rate" not in table


# ------------------------------------------------------------------------------------------------ train
def test_train_prints_and_runs_the_recipe_command(capsys, tmp_path):
    config = ROOT / "recipes" / "configs" / "sft_world_model.yaml"
    out = run_cli(
        capsys, "train", "sft", "--config", str(config), "--num-processes", "2", "--print", "--", "--max_steps", "5"
    )
    assert out.strip() == (
        f"accelerate launch --num_processes 2 {ROOT / 'recipes' / 'sft.py'} --config {config} --max_steps 5"
    )
    dpo = run_cli(capsys, "train", "--config", str(ROOT / "recipes" / "configs" / "dpo.yaml"), "--print")
    assert dpo.split()[:3] == ["accelerate", "launch", str(ROOT / "recipes" / "dpo.py")]
    recipe = tmp_path / "echo_recipe.py"
    recipe.write_text(f"import json, sys\nopen({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    run_cli(capsys, "train", str(recipe), "--config", str(config), "--launcher", "python", "--", "--max_steps", "5")
    assert json.loads((tmp_path / "argv.json").read_text()) == ["--config", str(config), "--max_steps", "5"]
    with pytest.raises(SystemExit, match="no recipe 'nope'"):
        cli.main(["train", "nope", "--print"])
    with pytest.raises(SystemExit, match="no config file"):
        cli.main(["train", "sft", "--config", str(tmp_path / "missing.yaml"), "--print"])


# ------------------------------------------------------------------------------------------------ inspect
def test_inspect_marks_the_trained_tokens(capsys, assets):
    def body(text: str) -> str:  # the rendered tokens, after the header and the legend
        return text.split("--- example", 1)[1]

    plain = body(run_cli(capsys, "inspect", str(assets / "traj"), "-t", str(assets / "model"), "--color", "never"))
    data = load_trajectories(assets / "traj")
    first_action, second_observation = data[0]["actions"][0], data[0]["observations"][1]
    assert f"[[A: {first_action}<|im_end|>]]" in plain
    assert f"[[O: {second_observation}<|im_end|>]]" in plain
    assert f"[[O: {data[0]['observations'][0]}" not in plain  # the task is context, never a target
    assert "\033[" not in plain
    bc = body(run_cli(capsys, "inspect", str(assets / "traj"), "-t", str(assets / "model"), "--mode", "behavioral_cloning",
                 "--color", "never", "--row", "1"))  # fmt: skip
    assert "[[A: " in bc and "[[O: " not in bc
    wm = body(run_cli(capsys, "inspect", str(assets / "traj"), "-t", str(assets / "model"), "--mode", "world_model",
                 "--color", "always", "--layout", "transition"))  # fmt: skip
    assert "\033[1;30;46m" in wm and "\033[1;30;42m" not in wm and "example 2/" in wm
    with pytest.raises(SystemExit, match="out of range"):
        cli.main(["inspect", str(assets / "traj"), "-t", str(assets / "model"), "--row", "99"])


# ------------------------------------------------------------------------------------------------ push
def test_push_dataset_and_model_to_a_stand_in_hub(capsys, assets, tmp_path, monkeypatch):
    import huggingface_hub.constants
    from hub_stand_in import HubStandIn

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    model_dir = tmp_path / "agent"
    import shutil

    shutil.copytree(assets / "model", model_dir)
    (model_dir / "summary.json").write_text(json.dumps({"mode": "combined", "eval_env_success_rate": 0.75}))
    with HubStandIn(max_requests=40) as hub:
        common = ("--endpoint", hub.endpoint, "--token", "hf_test")
        out = run_cli(capsys, "push", str(assets / "traj"), "me/grid-traj", *common)
        assert "pushed dataset" in out
        out = run_cli(capsys, "push", str(model_dir), "me/grid-agent", "--private", *common)
        assert "pushed model" in out
        out = run_cli(capsys, "collect", "gridworld", "--episodes", "3", "--hub-id", "me/collected", "--quiet", *common)
        assert "pushed: " in out
    collected = hub.files[("dataset", "me/collected")]
    assert "| trajectories | 3 |" in collected["README.md"].decode() and "Seeds: 0-2" in collected["README.md"].decode()
    dataset_files, model_files = hub.files[("dataset", "me/grid-traj")], hub.files[("model", "me/grid-agent")]
    assert set(dataset_files) == {"README.md", "data/train-00000-of-00001.parquet"}
    assert "gridworld" in dataset_files["README.md"].decode()
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json"} <= set(model_files)
    assert "75.0%" in model_files["README.md"].decode()
    creates = [json.loads(r["body"]) for r in hub.requests if r["path"] == "/api/repos/create"]
    assert creates[1].get("visibility") == "private" and creates[0]["type"] == "dataset"
    assert "visibility" not in creates[0] or creates[0]["visibility"] != "private"
