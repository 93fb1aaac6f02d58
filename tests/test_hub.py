"""Hub sharing: card contents (offline), the one upload function against a local stand-in server, loading by id."""

from __future__ import annotations

import functools
import json
import time
import urllib.request

import huggingface_hub.constants
import pytest
import yaml
from conftest import toy_rows
from hub_stand_in import HubStandIn

from mrlm_hf import hub
from mrlm_hf.data import TRAJECTORY_FEATURES, load_trajectories, trajectories_from_rows


@pytest.fixture(scope="module")
def grid_data():
    from mrlm_hf import ExpertPolicy, collect_trajectories

    first = collect_trajectories("gridworld", ExpertPolicy(), 6, env_kwargs={"size": 3}, seed=10, progress=False)
    more = collect_trajectories("gridworld", ExpertPolicy(), 2, env_kwargs={"size": 3}, seed=40, progress=False)
    from datasets import concatenate_datasets

    return concatenate_datasets([first, more])


@pytest.fixture
def online(monkeypatch):
    """Tests set HF_HUB_OFFLINE=1 (conftest); the stand-in on 127.0.0.1 is allowed."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


# ------------------------------------------------------------------------------------------------ cards
def test_dataset_card_describes_the_collection(grid_data):
    card = hub.dataset_card(grid_data, "me/grid")
    meta = front_matter(card)
    assert "gridworld" in meta["tags"] and meta["configs"][0]["data_files"][0]["path"] == "data/train-*"
    assert "# me/grid" in card
    kwargs = grid_data[0]["env_kwargs"]
    assert f"| `gridworld` | `{kwargs}` | 8 |" in card
    assert "Policy: `expert` (8 trajectories)." in card
    assert "Seeds: 10-15, 40-41" in card
    actions = sum(grid_data["length"])
    assert "| trajectories | 8 |" in card and f"| actions (behavioral-cloning targets) | {actions} |" in card
    assert "| success rate | 100.0% |" in card
    mean_length = actions / 8
    assert f"| mean length (actions) | {mean_length:.2f} |" in card
    for name in TRAJECTORY_FEATURES:  # the schema: every column, its type and a meaning
        row = next(line for line in card.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.split("|")[3].strip(), name
    assert "| `rewards` | list[float32] |" in card and "| `seed` | int64 |" in card
    assert "| `truncated` | bool | turn limit reached |" in card


def test_dataset_card_counts_a_mixed_collection():
    rows = toy_rows(4)
    rows[0]["success"] = False
    rows[1]["metadata"] = json.dumps({"policy": "random"})
    card = hub.dataset_card(trajectories_from_rows(rows))
    assert "| success rate | 75.0% |" in card
    assert "`random` (1 trajectories)" in card and "`unknown` (3 trajectories)" in card


def test_model_card_reads_the_run(tmp_path):
    summary = {
        "mode": "combined",
        "weights": {"bc_weight": 0.5, "world_model_weight": 0.5},
        "base_model": "Qwen/Qwen2.5-0.5B",
        "env_name": "gridworld",
        "env_kwargs": {"size": 5},
        "dataset_hub_id": "me/grid",
        "data": {"num_trajectories": 100, "success_rate": 1.0},
        "random_policy_success_rate": 0.125,
        "eval_env_success_rate": 0.9375,
        "eval_wm_exact_match": 0.5,
        "eval_loss": 0.1234567,
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "learning_curve.png").write_bytes(b"\x89PNG")
    card = hub.model_card(tmp_path, "me/agent")
    meta = front_matter(card)
    assert meta["base_model"] == "Qwen/Qwen2.5-0.5B" and meta["datasets"] == ["me/grid"]
    assert "combined" in meta["tags"] and "gridworld" in meta["tags"]
    assert "- Mode: `combined`" in card and "`bc_weight` = 0.5, `world_model_weight` = 0.5" in card
    assert "- Base model: `Qwen/Qwen2.5-0.5B`." in card
    assert '[`me/grid`](https://huggingface.co/datasets/me/grid) from the `gridworld` environment `{"size": 5}`' in card
    assert "| eval_env_success_rate | 93.8% |" in card and "| random_policy_success_rate | 12.5% |" in card
    assert "| eval_wm_exact_match | 50.0% |" in card and "| eval_loss | 0.1235 |" in card
    assert "![learning curve](learning_curve.png)" in card


def test_model_card_without_a_summary(tmp_path):
    card = hub.model_card(tmp_path, mode="world_model", base_model=str(tmp_path))
    assert "base_model" not in front_matter(card)  # a local path is no Hub model id
    assert "- Mode: `world_model`" in card and "No evaluation results" in card and "learning curve" not in card


# ------------------------------------------------------------------------------------------------ upload
def test_upload_goes_through_one_function(online, tmp_path, monkeypatch):
    calls = []
    real = hub.upload_folder
    monkeypatch.setattr(hub, "upload_folder", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    (tmp_path / "config.json").write_text("{}")
    with HubStandIn(max_requests=20) as server:
        url = hub.push_model(tmp_path, "me/agent", endpoint=server.endpoint, token="hf_secret", mode="combined")
        url2 = hub.push_trajectories(trajectories_from_rows(toy_rows(3)), "me/toy", endpoint=server.endpoint)
    assert [k["repo_type"] for _, k in calls] == ["model", "dataset"]
    assert url.startswith(server.endpoint) and "/commit/" in url and "/datasets/me/toy/commit/" in url2
    assert server.paths("POST") == [
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/models/me/agent/preupload/main",
        "/api/models/me/agent/commit/main",
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/datasets/me/toy/preupload/main",
        "/api/datasets/me/toy/commit/main",
    ]
    assert server.requests[0]["headers"].get("authorization") == "Bearer hf_secret"
    commit = [json.loads(line) for line in server.requests[3]["body"].decode().splitlines()]
    assert commit[0] == {"key": "header", "value": {"summary": "Upload agent with mrlm_hf", "description": ""}}
    assert {c["value"]["path"] for c in commit[1:]} == {"config.json", "README.md"}
    assert "- Mode: `combined`" in server.files[("model", "me/agent")]["README.md"].decode()


def test_push_then_load_by_hub_id(online, tmp_path, monkeypatch):
    data = trajectories_from_rows(toy_rows(5))
    with HubStandIn(max_requests=20) as server:
        hub.push_trajectories(data, "me/toy", endpoint=server.endpoint)
        direct = hub.load_trajectories_from_hub("me/toy", endpoint=server.endpoint, cache_dir=tmp_path / "c1")
        # load_trajectories routes a Hub id (not a local path) to load_trajectories_from_hub
        routed = functools.partial(hub.load_trajectories_from_hub, endpoint=server.endpoint, cache_dir=tmp_path / "c2")
        monkeypatch.setattr(hub, "load_trajectories_from_hub", routed)
        through_data = load_trajectories("me/toy")
    for loaded in (direct, through_data):
        assert loaded.features == TRAJECTORY_FEATURES and loaded.to_list() == data.to_list()
    assert any(p.endswith("/resolve/" + "0123456789abcdef0123456789abcdef01234567/data/train-00000-of-00001.parquet")
               for p in server.paths("GET"))  # fmt: skip


def test_a_missing_path_that_looks_like_an_id_says_what_was_tried():
    with pytest.raises(FileNotFoundError, match="no local path.*HF_HUB_OFFLINE"):
        load_trajectories("nothing/here")  # conftest: offline


def test_the_stand_in_stops_by_itself():
    with HubStandIn(max_requests=2, lifetime=30) as server:
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{server.endpoint}/nothing", timeout=5)
        deadline = time.monotonic() + 10
        while server.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.thread.is_alive()  # stopped after its request budget, before the with block ended


@pytest.mark.slow  # about 30 s on 2 CPU cores: a whole (tiny) recipe run
def test_recipe_pushes_model_and_trajectories_with_cards(tmp_path):
    """recipes/sft.py with TRL's push_to_hub/hub_model_id and --dataset_hub_id, against the stand-in (HF_ENDPOINT)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "sft.py"
    flags = [
        "--num_episodes", "16", "--max_steps", "2", "--eval_steps", "2", "--eval_env_episodes", "2",
        "--eval_world_model_transitions", "2", "--collect_max_new_tokens", "4", "--tiny_hidden_size", "32",
        "--env_kwargs", '{"size": 3, "difficulty": 0, "max_turns": 2}', "--output_dir", str(tmp_path / "run"),
        "--push_to_hub", "--hub_model_id", "me/agent", "--hub_token", "hf_secret", "--dataset_hub_id", "me/traj",
    ]  # fmt: skip
    with HubStandIn(max_requests=40, lifetime=600) as server:
        env = {**os.environ, "HF_ENDPOINT": server.endpoint, "HF_HUB_OFFLINE": "0", "CUDA_VISIBLE_DEVICES": ""}
        result = subprocess.run(
            [sys.executable, str(recipe), *flags], env=env, capture_output=True, text=True, timeout=600
        )
    assert result.returncode == 0, result.stderr[-3000:]
    model_files, dataset_files = server.files[("model", "me/agent")], server.files[("dataset", "me/traj")]
    assert {"README.md", "config.json", "model.safetensors", "learning_curve.png", "summary.json"} <= set(model_files)
    assert not any(p.startswith("trajectories/") for p in model_files)
    model_readme = model_files["README.md"].decode()
    assert "- Mode: `combined`" in model_readme and "`bc_weight` = " in model_readme
    assert "[`me/traj`](https://huggingface.co/datasets/me/traj)" in model_readme
    assert "eval_env_success_rate" in model_readme and "![learning curve](learning_curve.png)" in model_readme
    dataset_readme = dataset_files["README.md"].decode()
    assert "| trajectories | 16 |" in dataset_readme and "Seeds: 0-15" in dataset_readme
    assert all(
        r["headers"].get("authorization") == "Bearer hf_secret" for r in server.requests if r["method"] == "POST"
    )
