"""Where does GRPO's learning signal go on gridworld with walls? Groups of scripted episodes, no model to train.

GRPO's advantage depends only on the returns of a group, so how the signal splits between "succeed rather than fail"
and everything else can be measured without training. Gridworld's return is 1 - 0.01 * (moves before the goal) on a
success and -0.01 per move on a failure (-0.15 over 15 turns): an all-success group differs only by path length, and
an all-failure group is all-equal, unless ``max_completion_length`` cuts some of its episodes early (partial return:
wall bumps have the longest observations, so the wall-bumping failures are cut first and score highest). With TRL's
default ``scale_rewards="group"`` each group is divided by its own standard deviation, so a 0.01 difference weighs as
much as a success among failures.

The episodes are played by the real ``MultiTurnRollout`` (the recipe's tokenizer, the real token budget) with a
stand-in for a sampled, nearly deterministic SFT policy: the BFS expert, except in a fixed fraction ``--confused`` of
(task, cell) pairs where its greedy move is a fixed other one (often a bump into a wall, which leaves the agent in
place: a trap, like a cloned policy's failures), and a uniform random move with probability ``epsilon``. For each
rollout setting and each ``scale_rewards`` the script reports the kinds of groups and the share of the loss weight
(|advantage| x trained tokens: the "dapo" loss) that each kind receives.

    python bench/grpo_signal.py --out /tmp/signal.json          # about a minute per epsilon on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mrlm_hf import ExpertPolicy, collect_trajectories  # noqa: E402
from mrlm_hf.envs.gridworld import ACTIONS  # noqa: E402
from mrlm_hf.models import trajectory_texts  # noqa: E402
from mrlm_hf.rl import MultiTurnRollout, env_prompt_dataset  # noqa: E402
from mrlm_hf.tiny import build_tokenizer  # noqa: E402

ENV = {"size": 5, "difficulty": 1, "max_turns": 15}
# (name, max_completion_length, truncated_return): the H200 run's setting and recipes/configs/grpo_gridworld_walls.yaml's.
SETTINGS = [("h200_run_560", 560, None), ("config_640_truncated_return", 640, -0.15)]


def proxy_generate(tokenizer, rollout: MultiTurnRollout, epsilon: float, confused: float, seed: int):
    """A scripted generate: each running episode's move as token ids, then the end-of-turn token."""
    rng = random.Random(seed)

    def greedy(env) -> str:
        cell = random.Random(f"{env._seed}-{env.state.agent}")
        expert = env.expert_action()
        if cell.random() < confused:
            return cell.choice([a for a in ACTIONS if a != expert])
        return expert

    def generate(contexts, max_new_tokens, envs):
        moves = [rng.choice(ACTIONS) if rng.random() < epsilon else greedy(env) for env in envs]
        return [
            (tokenizer(m, add_special_tokens=False)["input_ids"] + [rollout.turn_end_id])[:max_new_tokens]
            for m in moves
        ]

    return generate


def advantages(returns: torch.Tensor, scale: str) -> torch.Tensor:
    """TRL 1.16's advantages (sum_then_normalize, one reward function) for a (tasks, generations) tensor."""
    centred = returns - returns.mean(1, keepdim=True)
    if scale == "group":
        return centred / (returns.std(1, keepdim=True) + 1e-4)
    if scale == "batch":
        return centred / (returns.std() + 1e-4)
    return centred


def group_kind(success: torch.Tensor, returns: torch.Tensor) -> str:
    equal = bool(returns.std() == 0)
    if success.all():
        return "all_success_equal" if equal else "all_success_path_length_only"
    if not success.any():
        return "all_failure_equal" if equal else "all_failure_unequal"
    return "mixed"


def analyse(tokenizer, setting, epsilon: float, confused: float, tasks: int, generations: int, seed: int) -> dict:
    name, budget, truncated_return = setting
    rollout = MultiTurnRollout(
        tokenizer, max_completion_length=budget, max_turn_tokens=6, truncated_return=truncated_return
    )
    rows = [row for row in env_prompt_dataset("gridworld", tasks, env_kwargs=ENV).to_list() for _ in range(generations)]
    out = rollout.rollout(rows, proxy_generate(tokenizer, rollout, epsilon, confused, seed))
    greedy = rollout.rollout(rows[::generations], proxy_generate(tokenizer, rollout, 0.0, confused, seed))
    shape = (tasks, generations)
    returns = torch.tensor(out["episode_return"], dtype=torch.float64).view(shape)
    tokens = torch.tensor([sum(m) for m in out["env_mask"]], dtype=torch.float64).view(shape)
    success = torch.tensor(out["success"]).view(shape)
    kinds = [group_kind(success[g], returns[g]) for g in range(tasks)]
    result = {
        "setting": name,
        "max_completion_length": budget,
        "truncated_return": truncated_return,
        "epsilon": epsilon,
        "greedy_success_rate": round(sum(greedy["success"]) / tasks, 4),
        "sampled_success_rate": round(success.double().mean().item(), 4),
        "episodes_cut_by_length": round(sum(out["truncated_by_length"]) / len(rows), 4),
        "group_fraction": {k: round(kinds.count(k) / tasks, 4) for k in sorted(set(kinds))},
        "loss_weight_share": {},
    }
    for scale in ("group", "batch", "none"):
        weight = (advantages(returns, scale).abs() * tokens).sum(1)
        result["loss_weight_share"][scale] = {
            k: round((weight[[i for i, x in enumerate(kinds) if x == k]].sum() / weight.sum()).item(), 4)
            for k in sorted(set(kinds))
        }
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epsilon", type=float, nargs="+", default=[0.03, 0.15])
    parser.add_argument(
        "--confused", type=float, default=0.07, help="Fraction of (task, cell) pairs with a wrong greedy move."
    )
    parser.add_argument("--tasks", type=int, default=256)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo_episodes", type=int, default=1000, help="Expert episodes the tokenizer is trained on.")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    args = parser.parse_args(argv)
    demos = collect_trajectories("gridworld", ExpertPolicy(), args.demo_episodes, env_kwargs=ENV, progress=False)
    tokenizer = build_tokenizer(trajectory_texts(demos), vocab_size=512)  # the recipe's tiny tokenizer
    results = {
        "env": ENV,
        "confused": args.confused,
        "tasks": args.tasks,
        "generations": args.generations,
        "runs": [
            analyse(tokenizer, setting, e, args.confused, args.tasks, args.generations, args.seed)
            for e in args.epsilon
            for setting in SETTINGS
        ],
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return results


if __name__ == "__main__":
    main()
