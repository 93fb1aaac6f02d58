"""Measurements of world models on gridworld: branch data, lookahead planning, a world-model phase before BC.

    python examples/world_model.py                     # branches (writes outputs/world_model/branches.json)
    python examples/world_model.py --steps 300 --num_expert 200   # a quicker one
    python examples/world_model.py --data expert_plus_branches --hidden_size 256 --num_layers 4 --steps 4000 \
        --learning_rate 2e-3 --accelerator                        # a larger tiny model, one data set only
    python examples/world_model.py lookahead --accelerator        # lookahead vs no lookahead, WM phase vs BC alone
                                                                  # (writes outputs/world_model/lookahead.json)

``branches`` (the default):

Two world models, the same tiny Qwen2 initialisation (``mrlm_hf.tiny``), the same tokenizer, the same number of
optimizer steps and batch size (the settings of ``proof_of_learning.py gridworld-wm``: 5x5, difficulty 0,
max_turns 15), trained on transitions (``mode="world_model"``):

* ``expert_only``: ``to_transitions`` of ``num_expert`` expert episodes;
* ``expert_plus_branches``: the same transitions plus ``collect_branches(expert, RandomPolicy, k, depth)``: at every
  state of those episodes, ``k`` random alternative moves executed in the real environment, each going on with the
  random policy for up to ``branch_depth`` steps.

Both are trained and scored on the last ``history`` observations (``truncate_history``; 1 by default: a gridworld
observation is the whole state), by next-observation exact match (``evaluate_world_model``) on held-out
random-policy and expert transitions (``eval_transitions`` sampled from ``eval_episodes`` episodes, seeds from
``EVAL_SEED``), and used as the model of a one-step
``LookaheadPolicy`` over the four moves (score: predicted reward plus minus the BFS distance to the goal in the
predicted grid), played on held-out episodes against ``RandomPolicy``, with the model calls per action. The
recorded exact-match figures (99.7% with depth-3 branches against 20.6% expert-only, three seeds) come from
``bench/world_model_branches.py``, one arm per run on the data of ``world_model_data`` and ``held_out_transitions``
below, with per-step and per-error diagnostics (``bench/RESULTS.md``).

``lookahead``: gridworld with walls (5x5, difficulty 1, max_turns 15), where behavioral cloning plateaus. From
``num_expert`` expert episodes and their ``collect_branches(expert, RandomPolicy(0), k, depth)`` branches (world-model
data with the last ``history`` observations, as in ``branches``), with one tokenizer
and the same tiny initialisation (``--seed``) for every model:

* ``bc``: behavioral cloning on the expert episodes, ``bc_steps`` optimizer steps;
* ``world_model``: ``mode="world_model"`` on expert transitions plus branches, ``wm_steps`` steps, at its own size and
  learning rate (``wm_hidden_size``, ``wm_num_layers``, ``wm_learning_rate``: those of the 99.7% run of
  ``branches``); exact match on held-out random-policy and expert transitions;
* the planning comparison, on ``eval_episodes`` held-out episodes (seeds from ``EVAL_SEED``): ``bc`` alone, greedy, against
  ``LookaheadPolicy(ModelPredictor(world_model), proposal=bc sampled at temperature T, k, depth,
  value=gridworld_value)`` (the same policy model as proposal); the control ``proposal_alone`` (that sampled
  proposal acting without the world model: is a gain the world model's or the sampling's?); and, for reference, the
  lookahead over all four moves (no proposal): success rate, its standard error, and model calls per action;
* the world-model-phase comparison, at the same total ``bc_steps`` optimizer steps and held-out seeds: ``wm_then_bc`` (a world-model phase
  of ``wm_phase_fraction * bc_steps`` steps on expert transitions plus branches, then behavioral cloning on the
  expert episodes for the rest: two trainer runs, because ``schedule="sequential"`` takes one data set whose rows
  train actions in the BC phase, and branch rows would teach the random alternatives) and ``sequential_schedule``
  (``mode="combined", schedule="sequential"`` on the expert episodes alone, the library's one-run form).

``--parts planning`` or ``--parts phase`` runs one comparison (both train the same BC reference), so that the two
can run in parallel processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proof_of_learning as pol  # noqa: E402  (its data, model and training settings)
from datasets import Dataset, concatenate_datasets, disable_progress_bars  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from mrlm_hf import (  # noqa: E402
    ExpertPolicy,
    RandomPolicy,
    TransformersPolicy,
    collect_trajectories,
    evaluate_policy,
    evaluate_world_model,
)
from mrlm_hf.branches import collect_branches  # noqa: E402
from mrlm_hf.data import to_transitions, trajectory_stats, truncate_history  # noqa: E402
from mrlm_hf.envs.gridworld import ACTIONS  # noqa: E402
from mrlm_hf.evaluation import EVAL_SEED  # noqa: E402
from mrlm_hf.outcomes import gridworld_outcome  # noqa: E402
from mrlm_hf.planning import LookaheadPolicy, gridworld_value  # noqa: E402
from mrlm_hf.simulator import ModelPredictor  # noqa: E402

SETTINGS: dict[str, Any] = {
    **{k: v for k, v in pol.CLAIMS["gridworld-wm"].items() if k != "eval_trajectories"},
    "eval_episodes": 64,  # held-out episodes whose transitions are sampled (eval_transitions of them)
    "branches_k": 3,
    "branch_depth": 3,  # branches go on with the random policy: the data shows what follows a random move
    "history": 1,  # a gridworld observation is the whole state: the last one is all a world model needs
    "steps": 3000,
    "eval_transitions": 256,
    "plan_episodes": 64,
}

LOOKAHEAD_SETTINGS: dict[str, Any] = {
    **pol.MODEL,
    "env": "gridworld",
    "env_kwargs": {"size": 5, "difficulty": 1, "max_turns": 15},
    "num_expert": 1000,
    "branches_k": 3,
    "branch_depth": 3,
    "history": 1,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "bc_steps": 1000,
    "wm_steps": 3000,
    # The planner's world model: the size and learning rate of the 99.7% run of ``branches`` (the BC policy and the
    # world-model phase keep the settings above, so that phase and BC alone are the same model).
    "wm_hidden_size": 256,
    "wm_num_layers": 4,
    "wm_learning_rate": 1e-3,
    "wm_phase_fraction": 0.5,
    "max_new_tokens": 4,  # an action
    "wm_max_new_tokens": 32,  # an observation
    "eval_episodes": 256,
    "eval_transitions": 256,
    # 8 proposals at temperature 1.5: at temperature 1 the BC policy's samples rarely differ from its greedy action
    # (bench/RESULTS.md: the lookahead measurements).
    "k": 8,
    "depth": 1,
    "temperature": 1.5,
    "parts": ["planning", "phase"],
}


ARMS = ("expert_only", "expert_plus_branches")


def world_model_data(settings: dict[str, Any], with_branches: bool = True) -> tuple[Dataset, Dataset | None, Dataset]:
    """(``num_expert`` expert episodes; their ``collect_branches(expert, RandomPolicy(0), branches_k, branch_depth)``
    rows, or None; the tokenizer's corpus: the expert episodes plus 50 random ones, so that it also sees bumps into
    walls). The same data for every arm, mode and script (``bench/world_model_branches.py`` too)."""
    env, env_kwargs = settings["env"], settings["env_kwargs"]
    expert = collect_trajectories(env, ExpertPolicy(), settings["num_expert"], env_kwargs=env_kwargs, progress=False)
    branches = None
    if with_branches:
        branches = collect_branches(expert, RandomPolicy(0), k=settings["branches_k"], depth=settings["branch_depth"])
    random_episodes = collect_trajectories(
        env, RandomPolicy(1), 50, env_kwargs=env_kwargs, seed=settings["num_expert"], progress=False
    )
    return expert, branches, concatenate_datasets([expert, random_episodes])


def arm_transitions(arm: str, expert: Dataset, branches: Dataset | None) -> Dataset:
    """An arm's world-model training rows: expert transitions, plus the branch rows for ``expert_plus_branches``."""
    if arm == "expert_only":
        return to_transitions(expert)
    return concatenate_datasets([to_transitions(expert), branches])


def held_out_transitions(settings: dict[str, Any], policy: Any) -> Dataset:
    """Up to ``eval_transitions`` transitions of ``eval_episodes`` held-out episodes of ``policy`` (seeds from
    ``EVAL_SEED``): a fixed sample over all steps, not the first steps of the first episodes."""
    transitions = to_transitions(pol.held_out_episodes(settings, policy)).shuffle(seed=0)
    return transitions.select(range(min(settings["eval_transitions"], len(transitions))))


def measure(settings: dict[str, Any]) -> dict[str, Any]:
    env, env_kwargs = settings["env"], settings["env_kwargs"]
    arms = [settings["data"]] if settings.get("data") else list(ARMS)  # one arm only: runs in parallel processes
    expert, branches, corpus = world_model_data(settings, with_branches="expert_plus_branches" in arms)
    history = settings["history"]
    held_out = {
        "random": held_out_transitions(settings, RandomPolicy(EVAL_SEED)),
        "expert": held_out_transitions(settings, ExpertPolicy()),
    }
    played_randomly = collect_trajectories(
        env, RandomPolicy(EVAL_SEED), settings["plan_episodes"], env_kwargs=env_kwargs, seed=EVAL_SEED, progress=False
    )
    results: dict[str, Any] = {"data": {}, "random_policy": _rounded(trajectory_stats(played_randomly))}
    for arm in arms:
        data = truncate_history(arm_transitions(arm, expert, branches), history)
        results["data"][arm] = len(data)
        tokenizer, model = pol.build(corpus, settings)  # same seed: the same tokenizer and initial weights
        start = time.time()
        trainer = pol.train(model, tokenizer, data, "world_model", settings)
        run: dict[str, Any] = {"train_seconds": round(time.time() - start, 1)}
        for split, transitions in held_out.items():
            stats = evaluate_world_model(
                trainer.model,
                tokenizer,
                transitions,
                max_transitions=len(transitions),
                max_new_tokens=settings["max_new_tokens"],
                history=history,
            )
            run[f"held_out_{split}"] = _rounded(stats)
        predictor = ModelPredictor(
            trainer.model, tokenizer, max_new_tokens=settings["max_new_tokens"], batch_size=256, history=history
        )
        planner = LookaheadPolicy(predictor, candidates=ACTIONS, outcome=gridworld_outcome, value=gridworld_value)
        played = collect_trajectories(
            env, planner, settings["plan_episodes"], env_kwargs=env_kwargs, seed=EVAL_SEED, num_envs=64, progress=False
        )
        run["lookahead"] = {**_rounded(trajectory_stats(played)), "model_calls_per_action": planner.calls_per_action()}
        run["final_train_loss_wm"] = pol.last_logged(trainer, "loss_wm")
        results[arm] = run
    return results


def lookahead(settings: dict[str, Any]) -> dict[str, Any]:
    """Lookahead vs the same policy model alone, and a world-model phase then BC vs BC alone; see the
    module docstring."""
    env, env_kwargs = settings["env"], settings["env_kwargs"]
    expert, branches, corpus = world_model_data(settings)
    history = settings["history"]
    wm_data = truncate_history(arm_transitions("expert_plus_branches", expert, branches), history)
    bc_steps, wm_phase = settings["bc_steps"], round(settings["wm_phase_fraction"] * settings["bc_steps"])

    def trained(
        data: Any, mode: str, steps: int, model: Any = None, size: dict | None = None, **config: Any
    ) -> tuple[Any, Any]:
        run = {**settings, **(size or {}), "steps": steps, "group_by_length": mode == "world_model"}
        tokenizer, fresh = pol.build(corpus, run)  # same seed: the same tokenizer (and initial weights at one size)
        settings["wm_num_parameters" if size else "num_parameters"] = run["num_parameters"]
        return pol.train(fresh if model is None else model, tokenizer, data, mode, run, **config).model, tokenizer

    def play(policy: Any, tokenizer: Any = None) -> dict[str, float]:
        kwargs = {} if tokenizer is None else {"tokenizer": tokenizer, "max_new_tokens": settings["max_new_tokens"]}
        stats = evaluate_policy(policy, env, settings["eval_episodes"], env_kwargs=env_kwargs, progress=False, **kwargs)
        return {
            **_rounded(stats),
            "success_stderr": round(standard_error(stats["success_rate"], settings["eval_episodes"]), 4),
        }

    results: dict[str, Any] = {"data": {"expert_episodes": len(expert), "world_model_transitions": len(wm_data)}}

    def checkpoint() -> None:  # what is measured so far survives an interrupted run
        path = Path(settings["output_dir"]) / "lookahead.partial.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2))

    results["random_policy"] = play(RandomPolicy(EVAL_SEED))
    start = time.time()
    bc, tokenizer = trained(expert, "behavioral_cloning", bc_steps)
    results["bc_train_seconds"] = round(time.time() - start, 1)
    # BC alone: the reference of both comparisons.
    results["policy_alone"] = {**play(bc, tokenizer), "model_calls_per_action": 1.0}
    checkpoint()
    if "phase" in settings["parts"]:  # a world-model phase before BC: the same total optimizer steps and seeds
        phase, _ = trained(wm_data, "world_model", wm_phase)
        then_bc, _ = trained(expert, "behavioral_cloning", bc_steps - wm_phase, model=phase)
        results["wm_then_bc"] = play(then_bc, tokenizer)
        checkpoint()
        sequential, _ = trained(
            expert,
            "combined",
            bc_steps,
            schedule="sequential",
            world_model_phase_fraction=settings["wm_phase_fraction"],
        )
        results["sequential_schedule"] = play(sequential, tokenizer)
        checkpoint()
    if "planning" not in settings["parts"]:
        return results

    start = time.time()
    wm_size = {"hidden_size": "wm_hidden_size", "num_layers": "wm_num_layers", "learning_rate": "wm_learning_rate"}
    world_model, _ = trained(
        wm_data, "world_model", settings["wm_steps"], size={k: settings[v] for k, v in wm_size.items()}
    )
    results["wm_train_seconds"] = round(time.time() - start, 1)
    n = settings["eval_transitions"]
    results["world_model_exact_match"] = {
        split: round(
            evaluate_world_model(
                world_model,
                tokenizer,
                collect_trajectories(env, policy, 64, env_kwargs=env_kwargs, seed=EVAL_SEED, progress=False),
                max_transitions=n,
                max_new_tokens=settings["wm_max_new_tokens"],
                history=history,
            )["wm_exact_match"],
            4,
        )
        for split, policy in (("random", RandomPolicy(EVAL_SEED)), ("expert", ExpertPolicy()))
    }

    # Planning: the same policy model with and without lookahead, on the same held-out episodes.
    predictor = ModelPredictor(
        world_model, tokenizer, max_new_tokens=settings["wm_max_new_tokens"], batch_size=256, history=history
    )

    def sampled_bc() -> TransformersPolicy:  # the BC model sampled: the lookahead's proposal
        return TransformersPolicy(
            bc,
            tokenizer,
            max_new_tokens=settings["max_new_tokens"],
            do_sample=True,
            temperature=settings["temperature"],
            batch_size=256,
            seed=settings["seed"],
        )

    proposal = sampled_bc()
    # The control for the proposal's sampling: the same sampled policy acting without the world model.
    sampled = sampled_bc()
    results["proposal_alone"] = {**play(sampled), "model_calls_per_action": 1.0}
    checkpoint()
    planners = {
        "lookahead": LookaheadPolicy(
            predictor,
            proposal=proposal,
            k=settings["k"],
            depth=settings["depth"],
            outcome=gridworld_outcome,
            value=gridworld_value,
            env_config=env_kwargs,
        ),
        "lookahead_all_moves": LookaheadPolicy(
            predictor, candidates=ACTIONS, outcome=gridworld_outcome, value=gridworld_value, env_config=env_kwargs
        ),
    }
    for name, planner in planners.items():
        results[name] = {
            **play(planner),
            "model_calls_per_action": round(planner.calls_per_action(), 3),
            "predictor_calls": planner.predictor_calls,
            "proposal_calls": planner.proposal_calls,
            "actions": planner.actions_taken,
        }
        checkpoint()
    return results


def standard_error(rate: float, n: int) -> float:
    """Binomial standard error of a success rate over ``n`` episodes."""
    return (rate * (1.0 - rate) / max(1, n)) ** 0.5


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in stats.items()}


CLAIMS = {"branches": (SETTINGS, measure), "lookahead": (LOOKAHEAD_SETTINGS, lookahead)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claim", nargs="?", choices=list(CLAIMS), default="branches")
    parser.add_argument("--output_dir", default="outputs/world_model")
    for name in (
        "steps",
        "batch_size",
        "num_expert",
        "branches_k",
        "branch_depth",
        "history",
        "eval_transitions",
        "plan_episodes",
        "seed",
    ):
        parser.add_argument(f"--{name}", type=int)
    for name in ("hidden_size", "num_layers", "bc_steps", "wm_steps", "eval_episodes", "k", "depth"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("wm_hidden_size", "wm_num_layers"):
        parser.add_argument(f"--{name}", type=int, help="lookahead: the planner's world model")
    parser.add_argument("--learning_rate", type=float)
    parser.add_argument("--wm_learning_rate", type=float, help="lookahead: the planner's world model")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["planning", "phase"],
        help="lookahead: the planning comparison, the world-model-phase comparison, or both (the default)",
    )
    parser.add_argument("--temperature", type=float, help="lookahead: sampling temperature of the proposal")
    parser.add_argument("--data", choices=["expert_only", "expert_plus_branches"], help="branches: train only this one")
    parser.add_argument("--accelerator", dest="use_cpu", action="store_false", default=None, help="train on a GPU")
    args = vars(parser.parse_args(argv))
    claim, output_dir = args.pop("claim"), args.pop("output_dir")
    defaults, runner = CLAIMS[claim]
    settings = {**defaults, **{k: v for k, v in args.items() if v is not None}, "output_dir": output_dir}
    hf_logging.set_verbosity_error()
    disable_progress_bars()
    start = time.time()
    results = runner(settings)
    settings.pop("output_dir")
    record = {"claim": claim, "settings": settings, **results, "seconds": round(time.time() - start, 1)}
    path = Path(output_dir) / f"{claim}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
