"""Worker of tests/test_multiprocess.py: a few GRPO steps with EnvGRPOTrainer, launched with torchrun on 1 or 2 CPU
processes at the same global batch. Rollouts are scripted and deterministic (the same episodes whatever the process
layout), so the gradients, and with them every logged grad norm and the final weights, must match.

    python -m torch.distributed.run --nproc_per_node 2 tests/grpo_ddp_worker.py OUT_DIR PER_DEVICE_BATCH [PRECISION]

PRECISION is ``fp32`` on the CPU (the default, the test) or ``fp32``/``bf16`` on GPUs (``bench/grpo_ddp_parity.py``,
which launches it with ``--gpu``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from accelerate import PartialState  # noqa: E402
from conftest import make_tokenizer  # noqa: E402

from mrlm_hf.envs.gridworld import ACTIONS  # noqa: E402
from mrlm_hf.models import end_processes  # noqa: E402
from mrlm_hf.rl import EnvGRPOConfig, EnvGRPOTrainer, MultiTurnRollout, env_prompt_dataset  # noqa: E402
from mrlm_hf.tiny import build_model  # noqa: E402

GENERATIONS = 4


class ScriptedRollout(MultiTurnRollout):
    """Episode j of the global batch plays variant j % GENERATIONS: even variants follow the expert, odd ones a fixed
    cycle of moves, so every group has different returns (non-zero advantages) on any process layout."""

    def rollout(self, rows, generate=None):
        self.first_turn = True
        return super().rollout(rows, generate)


def main(out: Path, per_device: int, precision: str = "fp32", gpu: bool = False) -> None:
    state = PartialState()
    tokenizer = make_tokenizer("chatml")
    rollout = ScriptedRollout(tokenizer, max_completion_length=256, max_turn_tokens=8)
    variants: dict[int, int] = {}
    turns: dict[int, int] = {}

    def generate(contexts, max_new_tokens, envs):
        if rollout.first_turn:  # every episode is running: positions are the local batch order
            rollout.first_turn = False
            for i, env in enumerate(envs):
                variants[id(env)] = (state.process_index * len(envs) + i) % GENERATIONS
                turns[id(env)] = 0
        out = []
        for env in envs:
            variant, turn = variants[id(env)], turns[id(env)]
            turns[id(env)] += 1
            action = env.expert_action() if variant % 2 == 0 else ACTIONS[(variant + turn) % 4]
            out.append(tokenizer(action, add_special_tokens=False)["input_ids"] + [rollout.turn_end_id])
        return out

    rollout.generate = generate
    dataset = env_prompt_dataset("gridworld", 16, env_kwargs={"size": 4, "difficulty": 1, "max_turns": 4})
    args = EnvGRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=per_device,
        num_generations=GENERATIONS,
        max_completion_length=256,
        max_steps=3,
        learning_rate=1e-2,
        logging_steps=1,
        use_cpu=not gpu,
        bf16=precision == "bf16",
        report_to="none",
        save_strategy="no",
        seed=0,
        data_seed=0,
    )
    torch.manual_seed(0)
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    trainer = EnvGRPOTrainer(model, args, dataset, tokenizer, rollout=rollout)
    trainer.train()
    if state.is_main_process:
        weights = trainer.accelerator.unwrap_model(trainer.model).state_dict()
        record = {
            "grad_norm": [h["grad_norm"] for h in trainer.state.log_history if "grad_norm" in h],
            "reward_std": [h["reward_std"] for h in trainer.state.log_history if "reward_std" in h],
            "loss": [h["loss"] for h in trainer.state.log_history if "loss" in h],
            "weights": {k: v.flatten()[:64].tolist() for k, v in weights.items()},
        }
        (out / "record.json").write_text(json.dumps(record))
    end_processes()


if __name__ == "__main__":
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    positional = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(Path(positional[0]), int(positional[1]), *positional[2:3], gpu="--gpu" in flags)
