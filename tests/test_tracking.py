"""``report_to`` works as in TRL: the per-objective metrics reach the tracker (TensorBoard event files, read back)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorboard")


def test_per_objective_metrics_reach_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mrlm_hf import ExpertPolicy, TrajectorySFTConfig, TrajectorySFTTrainer, collect_trajectories
    from mrlm_hf.tiny import build_model, build_tokenizer

    env_kwargs = {"size": 3, "difficulty": 0, "max_turns": 2}
    data = collect_trajectories("gridworld", ExpertPolicy(), 12, env_kwargs=env_kwargs, progress=False)
    tokenizer = build_tokenizer([t for row in data for t in (*row["observations"], *row["actions"])], vocab_size=300)
    args = TrajectorySFTConfig(
        output_dir=str(tmp_path),
        report_to=["tensorboard"],
        mode="combined",
        max_steps=2,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        eval_env_episodes=2,
        eval_world_model_transitions=2,
        collect_max_new_tokens=4,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        save_strategy="no",
        activation_checkpointing=False,
        use_cpu=True,
    )
    trainer = TrajectorySFTTrainer(
        build_model(tokenizer, hidden_size=32, intermediate_size=64),
        args=args,
        train_dataset=data.select(range(8)),
        eval_dataset=data.select(range(8, 12)),
        processing_class=tokenizer,
        env="gridworld",
        env_kwargs=env_kwargs,
    )
    trainer.train()

    event_files = list(tmp_path.rglob("events.out.tfevents.*"))
    assert event_files, f"no TensorBoard event file under {tmp_path}"
    tags = set()
    for path in event_files:
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    expected = {
        "train/loss_bc",
        "train/loss_wm",
        "train/accuracy_bc",
        "eval/loss_bc",
        "eval/loss_wm",
        "eval/env_success_rate",
        "eval/wm_exact_match",
        "eval/wm_token_accuracy",
    }
    assert expected <= tags, sorted(tags)
