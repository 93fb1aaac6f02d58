"""Sharing on the Hugging Face Hub: dataset and model cards, one upload function, loading trajectories by repo id.

Cards are generated from what a run produced, so they are tested offline: ``dataset_card`` reads the trajectories
themselves (environment, policy, seeds, counts, success rate, schema from ``TRAJECTORY_FEATURES``), ``model_card``
reads a recipe's output directory (``summary.json``: mode, data, evaluation results; ``learning_curve.png``).
Every upload goes through ``upload_folder`` (``huggingface_hub.HfApi``: ``create_repo`` then ``upload_folder``),
so ``endpoint`` points all of them at another server (a private Hub, or a test's stand-in).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from datasets import Dataset

from mrlm_hf.data import TRAJECTORY_FEATURES, load_trajectories, save_trajectories, trajectory_stats

#: Where ``push_trajectories`` writes the data inside a dataset repo (the Hub's default layout for one split).
DATA_FILE = "data/train-00000-of-00001.parquet"


# ---------------------------------------------------------------------------------------------------- cards
def _schema_meanings() -> dict[str, str]:
    """Column -> meaning, read from the schema table in ``mrlm_hf.data``'s docstring (one source for both)."""
    import mrlm_hf.data as data

    meanings = {}
    for line in (data.__doc__ or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3:
            names = re.findall(r"``(\w+)``", cells[0])
            parts = cells[2].split(" / ")  # ``terminated`` / ``truncated`` | bool | task over / turn limit reached
            for i, name in enumerate(names):
                meaning = parts[i] if len(parts) == len(names) else cells[2]
                meanings[name] = meaning.replace("``", "`")
    return meanings


def _feature_type(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    if dtype is not None and not hasattr(feature, "feature"):
        return str(dtype)
    inner = getattr(feature, "feature", None)
    return f"list[{_feature_type(inner)}]" if inner is not None else str(feature)


def schema_table() -> str:
    """The trajectory schema as a Markdown table: column, type (from ``TRAJECTORY_FEATURES``), meaning."""
    meanings = _schema_meanings()
    lines = ["| column | type | meaning |", "| --- | --- | --- |"]
    for name, feature in TRAJECTORY_FEATURES.items():
        lines.append(f"| `{name}` | {_feature_type(feature)} | {meanings.get(name, '')} |")
    return "\n".join(lines)


def _seed_ranges(seeds: list[int]) -> str:
    """``0-99, 1000000-1000063``: consecutive seeds collapsed into ranges."""
    if not seeds:
        return "none"
    seeds, ranges = sorted(set(seeds)), []
    start = prev = seeds[0]
    for s in [*seeds[1:], None]:
        if s is not None and s == prev + 1:
            prev = s
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if s is not None:
            start = prev = s
    return ", ".join(ranges[:20]) + (f", ... ({len(ranges)} ranges)" if len(ranges) > 20 else "")


def _front_matter(data: dict[str, Any]) -> str:
    from huggingface_hub import CardData

    return f"---\n{CardData(**data).to_yaml()}\n---\n"


def dataset_card(trajectories: Dataset, repo_id: str | None = None, description: str | None = None) -> str:
    """A dataset card (README.md) for a trajectory dataset: environment and its arguments, policy, seeds, counts,
    success rate, return and length, and the schema. Everything is read from the rows themselves."""
    from mrlm_hf.data import validate_trajectories

    counts = validate_trajectories(trajectories)
    stats = trajectory_stats(trajectories)
    columns = trajectories.select_columns(["env_name", "env_kwargs", "seed", "metadata"]).to_dict()
    envs = Counter(zip(columns["env_name"], columns["env_kwargs"]))
    policies = Counter(json.loads(m or "{}").get("policy", "unknown") for m in columns["metadata"])
    env_names = sorted({name for name, _ in envs})
    name = repo_id or "Trajectories"
    lines = [
        _front_matter(
            {
                "tags": ["mrlm_hf", "trajectories", "agents", *env_names],
                "task_categories": ["text-generation"],
                "size_categories": [_size_category(len(trajectories))],
                "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
            }
        ),
        f"# {name}",
        "",
        description
        or "Agent trajectories collected with mrlm_hf in text environments: one row per "
        "episode (per agent), ready for behavioral cloning or world-model training with `TrajectorySFTTrainer`.",
        "",
        "## Collection",
        "",
        "| environment | arguments | trajectories |",
        "| --- | --- | --- |",
        *(f"| `{env}` | `{kwargs}` | {n} |" for (env, kwargs), n in sorted(envs.items())),
        "",
        "Policy: " + ", ".join(f"`{p}` ({n} trajectories)" for p, n in sorted(policies.items())) + ".",
        "",
        f"Seeds: {_seed_ranges(columns['seed'])} (`env.reset(seed=...)` replays each task).",
        "",
        "## Statistics",
        "",
        "| statistic | value |",
        "| --- | --- |",
        f"| trajectories | {counts.rows} |",
        f"| actions (behavioral-cloning targets) | {counts.actions} |",
        f"| next observations (world-model targets) | {counts.next_observations} |",
        f"| success rate | {100 * stats['success_rate']:.1f}% |",
        f"| mean return | {stats['mean_return']:.3f} |",
        f"| mean length (actions) | {stats['mean_length']:.2f} |",
        "",
        "## Schema",
        "",
        schema_table(),
        "",
        "## Use",
        "",
        "```python",
        "from mrlm_hf.hub import load_trajectories_from_hub",
        f"trajectories = load_trajectories_from_hub({name!r})  # validated, with the schema above",
        "```",
        "",
    ]
    return "\n".join(lines)


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def _percent_or_number(key: str, value: Any) -> str:
    if isinstance(value, float) and ("rate" in key or "match" in key or "accuracy" in key):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def model_card(
    output_dir: str | os.PathLike,
    repo_id: str | None = None,
    *,
    mode: str | None = None,
    weights: dict[str, float] | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
    env_name: str | None = None,
    env_kwargs: dict[str, Any] | str | None = None,
) -> str:
    """A model card (README.md) for a trained agent: training mode and objective weights, base model, training
    data, evaluation results and the learning curve. Reads ``summary.json`` and ``learning_curve.png`` from
    ``output_dir`` when they are there (a recipe writes both); the arguments fill in or override."""
    from mrlm_hf.plotting import CURVE_FILE

    out = Path(output_dir)
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    mode = mode or summary.get("mode") or "unknown"
    weights = weights or summary.get("weights") or {}
    base_model = base_model or summary.get("base_model")
    dataset = dataset or summary.get("dataset_hub_id")
    env_name = env_name or summary.get("env_name")
    env_kwargs = env_kwargs if env_kwargs is not None else summary.get("env_kwargs")
    if isinstance(env_kwargs, dict):
        env_kwargs = json.dumps(env_kwargs, sort_keys=True)
    data = summary.get("data") or {}
    evals = {k: v for k, v in summary.items() if k.startswith("eval_") and isinstance(v, (int, float))}
    if summary.get("random_policy_success_rate") is not None:
        evals = {"random_policy_success_rate": summary["random_policy_success_rate"], **evals}

    meta: dict[str, Any] = {
        "library_name": "transformers",
        "tags": ["mrlm_hf", "trl", "sft", "agents", mode, *([env_name] if env_name else [])],
        "pipeline_tag": "text-generation",
    }
    if base_model and is_hub_id(base_model):  # a local path is no valid base_model in the card's metadata
        meta["base_model"] = base_model
    if dataset:
        meta["datasets"] = [dataset]
    objective = {
        "behavioral_cloning": "behavioral cloning: the model learns the agent's actions (observation -> action)",
        "world_model": "world model: the model learns the environment's next observation (state + action -> "
        "next observation)",
        "combined": "combined: behavioral cloning and world model in one pass, weighted per objective",
    }.get(mode, mode)
    lines = [
        _front_matter(meta),
        f"# {repo_id or out.name}",
        "",
        "An agent trained on environment trajectories with mrlm_hf's `TrajectorySFTTrainer` (a subclass of TRL's "
        "`SFTTrainer`).",
        "",
        "## Training",
        "",
        f"- Mode: `{mode}` ({objective}).",
    ]
    if weights:
        lines.append("- Objective weights: " + ", ".join(f"`{k}` = {v}" for k, v in weights.items()) + ".")
    lines.append(
        f"- Base model: `{base_model}`."
        if base_model
        else "- Base model: a randomly initialised model trained from scratch (mrlm_hf.tiny)."
    )
    source = (
        f"[`{dataset}`](https://huggingface.co/datasets/{dataset})" if dataset else "trajectories collected locally"
    )
    lines.append(
        f"- Data: {source}" + (f" from the `{env_name}` environment `{env_kwargs or '{}'}`" if env_name else "") + "."
    )
    if data:
        lines.append(
            "- Data statistics: "
            + ", ".join(f"{k.replace('_', ' ')} {_percent_or_number(k, v)}" for k, v in data.items())
            + "."
        )
    lines += ["", "## Evaluation", ""]
    if evals:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_percent_or_number(k, v)} |" for k, v in evals.items()]
        lines += [
            "",
            "`eval_env_*`: the trained agent playing held-out episodes (seeds far from the training seeds); "
            "`eval_wm_*`: next-observation prediction on held-out transitions; `random_policy_success_rate`: a random "
            "policy on the same episodes.",
        ]
    else:
        lines.append("No evaluation results were recorded (`summary.json` is missing or has no `eval_*` entries).")
    if (out / CURVE_FILE).exists():
        lines += ["", "## Learning curve", "", f"![learning curve]({CURVE_FILE})"]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "from mrlm_hf import evaluate_policy",
        f"model = AutoModelForCausalLM.from_pretrained({(repo_id or str(out))!r})",
        f"tokenizer = AutoTokenizer.from_pretrained({(repo_id or str(out))!r})",
        f"print(evaluate_policy(model, {(env_name or 'ENV')!r}, tokenizer=tokenizer))",
        "```",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- upload
def upload_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    repo_type: str = "model",
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload with mrlm_hf",
    ignore_patterns: list[str] | None = None,
) -> str:
    """The one function that talks to the Hub: create ``repo_id`` (if needed) and upload ``folder`` into it in one
    commit. ``endpoint`` defaults to ``HF_ENDPOINT`` (the public Hub); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type=repo_type,
        commit_message=commit_message,
        ignore_patterns=ignore_patterns,
    )
    return str(getattr(info, "commit_url", info))


def push_trajectories(
    trajectories: Dataset,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    description: str | None = None,
) -> str:
    """Upload a trajectory dataset as parquet (``data/train-*.parquet``) with a generated dataset card."""
    card = dataset_card(trajectories, repo_id, description)
    with tempfile.TemporaryDirectory(prefix="mrlm-hf-push-") as tmp:
        save_trajectories(trajectories, Path(tmp) / DATA_FILE)
        (Path(tmp) / "README.md").write_text(card, encoding="utf-8")
        return upload_folder(
            tmp,
            repo_id,
            repo_type="dataset",
            token=token,
            endpoint=endpoint,
            private=private,
            commit_message=f"Upload {len(trajectories)} trajectories with mrlm_hf",
        )


def push_model(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    **card_kwargs: Any,
) -> str:
    """Upload a saved model directory (a recipe's ``output_dir``) with a generated model card (written to its
    ``README.md``). Checkpoints and the local trajectory copy stay behind (push those with ``push_trajectories``)."""
    out = Path(output_dir)
    if not ((out / "config.json").exists() or (out / "adapter_config.json").exists()):
        raise FileNotFoundError(
            f"{out} holds no model (no config.json or adapter_config.json): give the directory that "
            "save_pretrained/save_model (or a recipe's output_dir) wrote."
        )
    (out / "README.md").write_text(model_card(out, repo_id, **card_kwargs), encoding="utf-8")
    return upload_folder(
        out,
        repo_id,
        repo_type="model",
        token=token,
        endpoint=endpoint,
        private=private,
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "trajectories/**", "tiny_base/**", "runs/**"],
        commit_message="Upload agent with mrlm_hf",
    )


# ---------------------------------------------------------------------------------------------------- download
def is_hub_id(name: str | os.PathLike) -> bool:
    """True when ``name`` is not an existing local path but a valid Hub repo id (``user/name``)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if isinstance(name, Path) or Path(name).expanduser().exists():
        return False
    try:
        validate_repo_id(str(name))
    except HFValidationError:
        return False
    return "/" in str(name)


def load_trajectories_from_hub(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Download a trajectory dataset repo's parquet files (``push_trajectories`` layout, or any ``*.parquet`` with
    the schema's columns) and load them validated, like ``load_trajectories`` does for a local path."""
    from datasets import concatenate_datasets
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            token=token,
            endpoint=endpoint,
            cache_dir=cache_dir,
            allow_patterns=["*.parquet", "**/*.parquet"],
        )
    except Exception as exc:  # offline, missing repo, no access: say what was tried
        raise FileNotFoundError(
            f"{repo_id!r} is no local path, and the Hub dataset repo {repo_id!r} could not be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Fix the path, or check the repo "
            "id, your token (HF_TOKEN) and HF_HUB_OFFLINE."
        ) from exc
    files = sorted(Path(local).rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"The dataset repo {repo_id!r} holds no parquet file. Push trajectories with mrlm_hf.hub.push_trajectories "
            "(or `mrlm-hf push`), which writes data/train-*.parquet."
        )
    parts = [load_trajectories(f) for f in files]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)
