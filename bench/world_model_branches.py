"""World-model exact match on held-out random-policy transitions: expert-only data vs expert data plus branches.

    python bench/world_model_branches.py --arm expert_only --seed 0 --out /tmp/wm/expert_only_0.json
    python bench/world_model_branches.py --arm expert_plus_branches --seed 0 --out /tmp/wm/branches_0.json
    python bench/world_model_branches.py --summarize /tmp/wm/*.json --out /tmp/wm/summary.json

One run trains one world model (``mode="world_model"``) from a fresh tiny Qwen2 (``mrlm_hf.tiny``, initial
weights from ``--seed``) on gridworld transitions (5x5, difficulty 0, max_turns 15; the tokenizer is built from the
same texts in every run), for ``--steps`` optimizer steps, and scores greedy next-observation exact match
(``evaluate_world_model``) on held-out transitions from seeds ``EVAL_SEED`` on, played by ``RandomPolicy`` (the
target) and by the expert:

* ``expert_only``: ``to_transitions`` of ``--num_expert`` expert episodes;
* ``expert_plus_branches``: the same plus ``collect_branches(expert, RandomPolicy(0), k=--branches_k)``: at every
  expert state, random alternative moves executed in the real environment (the held-out policy's actions).

``--history 1`` trains and scores with only the last observation before the action (``truncate_history``;
gridworld observations are the whole state). The default (full history) asks the model to read random-policy
histories of up to 14 steps (41% of the held-out transitions are at step 8 or later), longer than any history it
trained on (expert episodes take at most 8 steps). Each run also reports exact match by step (does it fall with
the step?), the kinds of errors (grid rows wrong, status line wrong) and the fraction of held-out (last
observation, action) pairs that occur in its training data (800 expert episodes, held-out sample of 256: 9.8%
expert-only, 25.0% with depth-1 branches, 66.0% with depth-3 branches; whole histories: 3.9%, 10.2%, 9.0%).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import proof_of_learning as pol  # noqa: E402  (build, train: the tokenizer, the tiny model, the trainer settings)
from datasets import Dataset, disable_progress_bars  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402
from world_model import ARMS, arm_transitions, held_out_transitions, world_model_data  # noqa: E402  (the data)

from mrlm_hf import ExpertPolicy, RandomPolicy, TransformersPolicy  # noqa: E402
from mrlm_hf.chat import trajectory_messages  # noqa: E402
from mrlm_hf.data import truncate_history  # noqa: E402
from mrlm_hf.evaluation import EVAL_SEED, _generate_observations, evaluate_world_model  # noqa: E402

DEFAULTS: dict[str, Any] = {
    "env": "gridworld",
    "env_kwargs": {"size": 5, "difficulty": 0, "max_turns": 15},
    "num_expert": 800,
    "branches_k": 3,
    "branch_depth": 1,  # steps per branch (collect_branches(depth=...)); 1: the alternative action only
    "steps": 3000,
    "batch_size": 16,
    "learning_rate": 3e-3,
    "hidden_size": 128,
    "num_layers": 2,
    "vocab_size": 512,
    "history": 0,  # 0: the whole history
    "eval_episodes": 64,
    "eval_transitions": 256,
    "max_new_tokens": 32,
    "group_by_length": True,
}


def training_data(settings: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """(the arm's transitions, the tokenizer's corpus), from ``examples/world_model.py``: the same in every arm."""
    expert, branches, corpus = world_model_data(settings, with_branches=settings["arm"] == "expert_plus_branches")
    return arm_transitions(settings["arm"], expert, branches), corpus


def diagnose(model: Any, tokenizer: Any, transitions: Dataset, train: Dataset, settings: dict[str, Any]) -> dict:
    """Exact match by step, error kinds, and coverage of the held-out (last observation, action) pairs."""
    generator = TransformersPolicy(model, tokenizer, max_new_tokens=settings["max_new_tokens"], do_sample=False)
    conversations = [
        trajectory_messages(r["system_prompt"], r["observations"], [*r["actions"], r["action"]]) for r in transitions
    ]
    predictions = _generate_observations(generator, conversations)
    by_step: dict[int, list[bool]] = defaultdict(list)
    errors: Counter = Counter()
    example = None
    for row, predicted in zip(transitions, predictions):
        want, got = row["next_observation"].strip(), predicted.strip()
        by_step[row["step"]].append(got == want)
        if got != want:
            w, g = want.split("\n"), got.split("\n")
            grid = sum(a != b for a, b in zip(w[:-1], g[:-1])) + abs(len(w) - len(g))
            errors[
                f"grid_rows_wrong={min(grid, 2)}{'+' if grid >= 2 else ''},status_{'ok' if w[-1] == g[-1] else 'wrong'}"
            ] += 1
            example = example or {"step": row["step"], "action": row["action"], "target": want, "predicted": got}
    seen = set(zip((o[-1] for o in train["observations"]), train["action"]))
    pairs = list(zip((o[-1] for o in transitions["observations"]), transitions["action"]))
    return {
        "exact_match_by_step": {str(k): round(sum(v) / len(v), 4) for k, v in sorted(by_step.items())},
        "transitions_by_step": {str(k): len(v) for k, v in sorted(by_step.items())},
        "errors": dict(errors.most_common()),
        "first_error": example,
        "pairs_seen_in_training": round(sum(p in seen for p in pairs) / max(1, len(pairs)), 4),
    }


def run(settings: dict[str, Any]) -> dict[str, Any]:
    data, corpus = training_data(settings)
    history = settings["history"] or None
    if history:
        data = truncate_history(data, history)
    tokenizer, model = pol.build(corpus, settings)  # the seed fixes the initial weights
    start = time.time()
    # On a CUDA machine TrajectorySFTConfig packs examples into rows of max_length (1024) by default: a "batch" of
    # 16 is then about 16 * 1024 / 100 transitions, not 16. --packing asks for the same on a CPU.
    config = {"packing": True} if settings.get("packing") else {}
    trainer = pol.train(model, tokenizer, data, "world_model", settings, **config)
    result: dict[str, Any] = {"train_rows": len(data), "train_seconds": round(time.time() - start, 1)}
    result["final_train_loss_wm"] = pol.last_logged(trainer, "loss_wm")
    for split, policy in (("random", RandomPolicy(EVAL_SEED)), ("expert", ExpertPolicy())):
        transitions = held_out_transitions(settings, policy)
        stats = evaluate_world_model(
            trainer.model,
            tokenizer,
            transitions,
            max_transitions=len(transitions),
            max_new_tokens=settings["max_new_tokens"],
            history=history,
        )
        result[f"held_out_{split}"] = {k: round(v, 4) for k, v in stats.items()}
        if split == "random":
            shown = truncate_history(transitions, history) if history else transitions
            result[f"held_out_{split}"].update(diagnose(trainer.model, tokenizer, shown, data, settings))
    return result


def summarize(paths: list[str]) -> dict[str, Any]:
    """Mean and per-seed exact match of each (arm, history, branch depth) over the run files, with its settings."""
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"random": {}, "expert": {}})
    for path in paths:
        if not Path(path).is_file():
            continue  # a run that wrote nothing (its log says why)
        record = json.loads(Path(path).read_text())
        if "arm" not in record.get("settings", {}):
            continue  # not a run file (e.g. an earlier summary)
        s = record["settings"]
        key = f"{s['arm']}/history={s['history'] or 'all'}"
        if s["arm"] == "expert_plus_branches":
            key += f"/depth={s.get('branch_depth', 1)}"
        key += f"/model={s.get('hidden_size')}x{s.get('num_layers')}/lr={s.get('learning_rate')}/steps={s.get('steps')}"
        groups[key].setdefault("settings", {k: v for k, v in s.items() if k not in ("arm", "seed")})
        groups[key].setdefault("train_rows", record.get("train_rows"))
        for split in ("random", "expert"):
            groups[key][split][s["seed"]] = record[f"held_out_{split}"]["wm_exact_match"]
    out: dict[str, Any] = {}
    for key, group in sorted(groups.items()):
        out[key] = {
            **{
                f"{split}_exact_match": {
                    "mean": round(sum(group[split].values()) / len(group[split]), 4),
                    "per_seed": dict(sorted(group[split].items())),
                }
                for split in ("random", "expert")
            },
            "train_rows": group["train_rows"],
            "settings": group["settings"],
        }
    return {"runs": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", choices=ARMS)
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--summarize", nargs="+", metavar="RUN_JSON", help="merge run files instead of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--packing", action="store_true", help="pack examples into rows (the CUDA default)")
    parser.add_argument("--accelerator", dest="use_cpu", action="store_false", default=True, help="train on a GPU")
    for name, value in DEFAULTS.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parser.add_argument(f"--{name}", type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out = Path(args.pop("out"))
    out.parent.mkdir(parents=True, exist_ok=True)
    if args["summarize"]:
        record = summarize(args["summarize"])
    else:
        if args["arm"] is None:
            parser.error("--arm is required unless --summarize")
        args.pop("summarize")
        settings = {**DEFAULTS, **args, "output_dir": tempfile.mkdtemp(prefix="wm-branches-")}  # nothing kept
        hf_logging.set_verbosity_error()
        disable_progress_bars()
        random.seed(settings["seed"])
        start = time.time()
        result = run(settings)
        settings.pop("output_dir")
        record = {"settings": settings, **result, "seconds": round(time.time() - start, 1)}
    out.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
