"""A run killed mid-way and resumed from its checkpoint ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tokenizer, toy_rows
from transformers import TrainerCallback

from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer, trajectories_from_rows
from mrlm_hf.tiny import build_model


class Kill(TrainerCallback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt("killed")


def trainer(out, callbacks=()):
    tokenizer = make_tokenizer("chatml")
    args = TrajectorySFTConfig(
        output_dir=str(out),
        max_steps=6,
        save_strategy="steps",
        save_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        seed=0,
        logging_steps=1,
        activation_checkpointing=False,
    )
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64, seed=0)
    return TrajectorySFTTrainer(
        model,
        args=args,
        train_dataset=trajectories_from_rows(toy_rows(40)),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    full = trainer(tmp_path / "full")
    full.train()
    killed = trainer(tmp_path / "killed", [Kill(at=5)])
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert (tmp_path / "killed" / "checkpoint-3").is_dir()
    resumed = trainer(tmp_path / "killed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "killed" / "checkpoint-3"))
    assert resumed.state.global_step == 6
    expected, got = full.model.state_dict(), resumed.model.state_dict()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    losses = lambda t: [h["loss"] for h in t.state.log_history if "loss" in h and h["step"] > 3]  # noqa: E731
    assert losses(resumed) == pytest.approx(losses(full), rel=1e-5)
