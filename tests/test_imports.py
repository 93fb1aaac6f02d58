"""The package is light: ``import mrlm_hf``, the environments and the sandbox load no training stack, and every
public name of ``mrlm_hf`` still resolves (lazily) to the object of its module."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import mrlm_hf

HEAVY = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")

_PROBE = """
import json, sys
import mrlm_hf
from mrlm_hf.envs import list_envs, make_env
import mrlm_hf.sandbox
obs, info = make_env("gridworld").reset(seed=0)
for name in list_envs():
    make_env(name).reset(seed=1)
print(json.dumps({"envs": list_envs(), "loaded": [m for m in sys.argv[1:] if m in sys.modules], "obs": bool(obs)}))
"""


def test_environments_and_sandbox_import_without_the_training_stack():
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *HEAVY], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert {"math", "code", "debate", "tools", "gridworld"} <= set(report["envs"])
    assert report["obs"]


def test_every_export_resolves_to_its_module_object():
    assert sorted(mrlm_hf.__all__) == sorted(mrlm_hf._EXPORTS)
    for name, module in mrlm_hf._EXPORTS.items():
        assert getattr(mrlm_hf, name) is getattr(importlib.import_module(module), name), name
    namespace: dict = {}
    exec("from mrlm_hf import *", namespace)
    assert set(mrlm_hf.__all__) <= set(namespace)
    assert set(mrlm_hf.__all__) <= set(dir(mrlm_hf))


def test_submodules_resolve_on_attribute_access():
    probe = "import sys, mrlm_hf; print(mrlm_hf.sandbox is sys.modules['mrlm_hf.sandbox'])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "True"


def test_unknown_attribute_is_an_attribute_error():
    try:
        mrlm_hf.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")
