"""Evaluation on environments: how well a policy acts, and how well a world model predicts.

``evaluate_policy`` plays held-out episodes (seeds far from the training seeds by default) and reports success
rate, mean return and mean length. ``evaluate_world_model`` scores next-observation predictions on held-out
transitions: exact match of the generated observation and teacher-forced token accuracy on its tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from datasets import Dataset

from mrlm_hf.chat import render_observation_prompt, trajectory_messages
from mrlm_hf.data import to_transitions, trajectory_stats, truncate_history
from mrlm_hf.policies import Policy, TransformersPolicy
from mrlm_hf.rollout import EnvSpec, collect_trajectories
from mrlm_hf.tokenize import OBSERVATION, tokenize_trajectories

#: Evaluation seeds start here, far from the seeds used to collect training data (0, 1, 2, ...).
EVAL_SEED = 1_000_000


def evaluate_policy(
    policy: Policy | Any,
    env: EnvSpec,
    episodes: int = 64,
    *,
    tokenizer: Any = None,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = EVAL_SEED,
    num_envs: int = 64,
    progress: bool = True,
    **generation_kwargs: Any,
) -> dict[str, float]:
    """Success rate, mean return and mean length of ``policy`` over ``episodes`` episodes of ``env``.

    ``policy`` is a ``Policy`` or a ``transformers`` model (then ``tokenizer`` is required; greedy decoding unless
    ``generation_kwargs`` say otherwise)."""
    if not callable(policy) or hasattr(policy, "generate"):
        if tokenizer is None:
            raise ValueError("evaluate_policy needs `tokenizer` when given a model.")
        generation_kwargs.setdefault("do_sample", False)
        policy = TransformersPolicy(policy, tokenizer, **generation_kwargs)
    trajectories = collect_trajectories(
        env, policy, episodes, env_kwargs=env_kwargs, seed=seed, num_envs=num_envs, progress=progress
    )
    learner = trajectories.filter(lambda a: [x == "agent_0" for x in a], input_columns="agent_id", batched=True)
    return trajectory_stats(learner)


@torch.no_grad()
def evaluate_world_model(
    model: Any,
    tokenizer: Any,
    trajectories: Dataset,
    *,
    max_transitions: int = 128,
    max_length: int = 1024,
    max_new_tokens: int = 128,
    batch_size: int = 32,
    history: int | None = None,
) -> dict[str, float]:
    """Next-observation exact match (greedy generation) and token accuracy (teacher forcing) on transitions.

    ``trajectories`` may also be transitions (``to_transitions``, ``collect_branches``). ``history`` keeps only the
    last observations of each history (``mrlm_hf.data.truncate_history``): pass what the model was trained with."""
    transitions = trajectories if "next_observation" in trajectories.column_names else to_transitions(trajectories)
    transitions = transitions.select(range(min(max_transitions, len(transitions))))
    if history is not None:
        transitions = truncate_history(transitions, history)
    if len(transitions) == 0:
        return {"wm_exact_match": 0.0, "wm_token_accuracy": 0.0, "wm_num_transitions": 0}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        # Teacher-forced token accuracy on the next-observation tokens.
        tokenized, _ = tokenize_trajectories(transitions, tokenizer, "world_model", max_length, "transition")
        correct = total = 0
        for start in range(0, len(tokenized), batch_size):
            rows = tokenized[start : start + batch_size]
            for ids, types in zip(rows["input_ids"], rows["token_types"]):
                input_ids = torch.tensor([ids], device=device)
                predicted = model(input_ids=input_ids).logits[0, :-1].argmax(-1)
                target = torch.tensor(ids[1:], device=device)
                mask = torch.tensor(types[1:], device=device) == OBSERVATION
                correct += int((predicted[mask] == target[mask]).sum())
                total += int(mask.sum())
        # Exact match of generated observations: prompt = history + action, then an observation turn header.
        generator = TransformersPolicy(
            model, tokenizer, max_new_tokens=max_new_tokens, do_sample=False, batch_size=batch_size
        )
        conversations, targets = [], []
        for row in transitions:
            messages = trajectory_messages(row["system_prompt"], row["observations"], [*row["actions"], row["action"]])
            conversations.append(messages)
            targets.append(row["next_observation"])
        predictions = _generate_observations(generator, conversations)
        exact = sum(p.strip() == t.strip() for p, t in zip(predictions, targets))
    finally:
        model.train(was_training)
    return {
        "wm_exact_match": exact / len(targets),
        "wm_token_accuracy": correct / max(1, total),
        "wm_num_transitions": len(targets),
    }


def _generate_observations(generator: TransformersPolicy, conversations: list[list[dict[str, str]]]) -> list[str]:
    """Generate the next observation turn: render the chat, open an observation turn, and decode until its end."""
    tokenizer = generator.tokenizer
    prompts = [render_observation_prompt(tokenizer, c) for c in conversations]
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    return tokenizer.batch_decode(generator.generate_tokens(ids), skip_special_tokens=True)
