"""Online collection, the sequential schedule, and evaluation on environments during training."""

from __future__ import annotations

import json

import pytest
from conftest import make_tokenizer, make_trainer

from mrlm_hf import ExpertPolicy, TrajectorySFTConfig, TrajectorySFTTrainer, collect_trajectories
from mrlm_hf.online import ONLINE_SEED
from mrlm_hf.tiny import build_model


@pytest.fixture
def math_data():
    return collect_trajectories("math", ExpertPolicy(), 16, progress=False)


def make(tmp_path, data, eval_dataset=None, **config):
    return make_trainer(
        tmp_path,
        data,
        eval_dataset=eval_dataset,
        env="math",
        **{"per_device_train_batch_size": 4, "max_steps": 6, **config},
    )


def test_expert_collection_grows_and_caps_the_buffer(tmp_path, math_data):
    trainer = make(
        tmp_path, math_data, collect_every=2, collect_episodes=8, collect_policy="expert", max_trajectories=30
    )
    trainer.train()
    # Collections at steps 2 and 4 (not after the last step): 16 + 8 + 8 = 32 -> capped at 30, oldest dropped.
    assert len(trainer.online.trajectories) == 30 and trainer.online.rounds == 2
    assert trainer.online.trajectories["seed"][-1] == ONLINE_SEED + 15
    shards = list((tmp_path / "online_trajectories" / "rank-0").glob("shard-*.parquet"))
    assert shards  # written to disk as they complete
    logged = [h for h in trainer.state.log_history if "collect_success_rate" in h]
    assert logged and logged[0]["collect_success_rate"] == 1.0 and logged[-1]["buffer_trajectories"] == 30


def test_model_collection_and_resume_from_shards(tmp_path, math_data):
    trainer = make(
        tmp_path, math_data, collect_every=3, collect_episodes=4, collect_policy="model", collect_max_new_tokens=4
    )
    trainer.train()
    collected = trainer.online.trajectories.filter(
        lambda m: json.loads(m)["policy"] == "model", input_columns="metadata"
    )
    assert len(collected) == 4
    # A new run over the same output directory picks the collected trajectories up again.
    again = make(
        tmp_path, math_data, collect_every=3, collect_episodes=4, collect_policy="model", collect_max_new_tokens=4
    )
    assert len(again.online.trajectories) == 20 and again.online.rounds == 1


def test_reward_filter_applies_to_collected_data(tmp_path, math_data):
    trainer = make(
        tmp_path,
        math_data,
        collect_every=2,
        collect_episodes=8,
        collect_policy="model",
        collect_max_new_tokens=3,
        filter_low_reward=True,
        min_reward_threshold=0.5,
        max_steps=3,
    )
    trainer.train()
    # The untrained model fails: its episodes are in the buffer but not in the training examples.
    assert len(trainer.online.trajectories) == 24
    assert len(trainer.online.tokenized) == 16


def test_sequential_schedule_trains_world_model_then_behavior(tmp_path, math_data):
    trainer = make(tmp_path, math_data, schedule="sequential", world_model_phase_fraction=0.5, max_steps=6)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss_bc" in h and "eval_loss" not in h]
    assert len(logs) == 6
    for entry in logs[:3]:
        assert entry["loss"] == pytest.approx(entry["loss_wm"], rel=1e-4)
    for entry in logs[3:]:
        assert entry["loss"] == pytest.approx(entry["loss_bc"], rel=1e-4)
    with pytest.raises(ValueError, match="mode='combined'"):
        TrajectorySFTConfig(output_dir=str(tmp_path), schedule="sequential", mode="behavioral_cloning")


def test_environment_and_world_model_evaluation_during_training(tmp_path, math_data):
    trainer = make(
        tmp_path,
        math_data,
        eval_dataset=math_data,
        eval_strategy="steps",
        eval_steps=3,
        eval_env_episodes=4,
        eval_world_model_transitions=4,
        collect_max_new_tokens=6,
    )
    trainer.train()
    entries = [h for h in trainer.state.log_history if "eval_env_success_rate" in h]
    assert len(entries) == 2 and 0.0 <= entries[-1]["eval_env_success_rate"] <= 1.0
    assert all("eval_wm_exact_match" in h and "eval_wm_token_accuracy" in h for h in entries)
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


def test_online_collection_needs_the_environment(tmp_path, math_data):
    tokenizer = make_tokenizer("chatml")
    args = TrajectorySFTConfig(output_dir=str(tmp_path), collect_every=2, max_steps=4, use_cpu=True, report_to="none")
    with pytest.raises(ValueError, match="env="):
        TrajectorySFTTrainer(build_model(tokenizer), args=args, train_dataset=math_data, processing_class=tokenizer)
