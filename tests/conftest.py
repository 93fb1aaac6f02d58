"""Shared fixtures: tiny tokenizers with several real chat templates, tiny models, toy trajectories.

Everything is built locally; no test downloads anything (HF_HUB_OFFLINE=1 is set here)."""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import trl  # noqa: E402

from mrlm_hf.data import trajectories_from_rows  # noqa: E402
from mrlm_hf.tiny import build_tokenizer  # noqa: E402

TRL_TEMPLATES = Path(trl.__file__).parent / "chat_templates"

# name -> (template source, extra special tokens, tokenizer attributes, template trims contents)
TEMPLATE_SPECS = {
    "chatml": (None, [], {}, False),
    "llama3": (
        "llama3",
        [],
        {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
        True,
    ),  # the template shipped with TRL, not our look-alike
    "qwen2_5": ("qwen2_5", [], {"eos_token": "<|im_end|>"}, False),
    "gemma": (
        "gemma",
        ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
        {"bos_token": "<bos>", "eos_token": "<eos>"},
        True,
    ),
    "phi3": ("phi3", ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], {"eos_token": "<|endoftext|>"}, False),
}


def make_tokenizer(name: str = "chatml", corpus: list[str] | None = None):
    """A tiny BPE tokenizer with the named chat template (TRL's shipped templates for all but chatml)."""
    source, extra, attributes, _ = TEMPLATE_SPECS[name]
    tokenizer = build_tokenizer(corpus or TOY_CORPUS, vocab_size=400)
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    for key, value in attributes.items():
        setattr(tokenizer, key, value)
    if source:
        tokenizer.chat_template = (TRL_TEMPLATES / f"{source}.jinja").read_text()
    return tokenizer


def toy_rows(n: int = 32, seed: int = 0, steps: int = 2) -> list[dict]:
    """Arithmetic trajectories: a wrong attempt, feedback, then the right answer (``steps`` >= 1 actions)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        observations, actions, rewards = [f"What is {a} + {b}?"], [], []
        for k in range(steps):
            last = k == steps - 1
            actions.append(f"The answer is {a + b if last else a + b + 1}.")
            observations.append("Correct!" if last else "Incorrect, try again.")
            rewards.append(1.0 if last else 0.0)
        rows.append(
            {
                "env_name": "toy",
                "seed": i,
                "system_prompt": "Answer with a number.",
                "observations": observations,
                "actions": actions,
                "rewards": rewards,
                "terminated": True,
                "success": True,
            }
        )
    return rows


TOY_CORPUS = [
    f"What is {a} + {b}? The answer is {a + b}. Incorrect, try again. Correct!" for a in range(20) for b in range(5)
]


def make_trainer(tmp_path, dataset, *, tokenizer=None, model=None, eval_dataset=None, env=None, **config):
    """A TrajectorySFTTrainer on CPU with a tiny model; ``config`` overrides the TrajectorySFTConfig fields."""
    from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer
    from mrlm_hf.tiny import build_model

    tokenizer = tokenizer or make_tokenizer("chatml")
    model = model or build_model(tokenizer, hidden_size=32, intermediate_size=64)
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        activation_checkpointing=False,
        use_cpu=True,
        max_steps=2,
    )
    args = TrajectorySFTConfig(**{**defaults, **config})
    return TrajectorySFTTrainer(
        model, args=args, train_dataset=dataset, eval_dataset=eval_dataset, processing_class=tokenizer, env=env
    )


def grpo_config(tmp_path, **overrides):
    """An ``EnvGRPOConfig`` on CPU for tiny-model tests (fp32, nothing saved or reported); ``overrides`` win."""
    from mrlm_hf.rl import EnvGRPOConfig

    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=64,
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
    )
    return EnvGRPOConfig(**{**defaults, **overrides})


@pytest.fixture
def toy_dataset():
    return trajectories_from_rows(toy_rows())


@pytest.fixture
def chatml_tokenizer():
    return make_tokenizer("chatml")
