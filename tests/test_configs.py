"""Every shipped YAML config parses into the recipe's dataclasses (the same fields as the flags)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "recipes" / "configs").glob("sft*.yaml")), ids=lambda p: p.name)
def test_recipe_config_parses(path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "recipes"))
    from sft import make_parser

    env_args, args, model_args = make_parser().parse_args_and_config(["--config", str(path), "--bf16", "false"])
    assert env_args.env_name and args.mode in ("behavioral_cloning", "world_model", "combined")


@pytest.mark.parametrize("path", sorted((ROOT / "accelerate_configs").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.num_processes >= 1 and config.num_machines >= 1
