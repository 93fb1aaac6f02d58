"""The trainer's optional features are callbacks added from its config, with no import cycle and no writes to
another object's private fields; evaluation on environments has its own generation budget; the RL recipes' periodic
held-out evaluation logs at its own steps; the learning curve draws the rollout reward; a time limit stops training
with a checkpoint to resume from."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import make_trainer
from transformers import TrainerCallback

import mrlm_hf.callbacks as callbacks_module
from mrlm_hf import ExpertPolicy, TrajectorySFTConfig, collect_trajectories, evaluate_policy
from mrlm_hf.callbacks import (
    EnvironmentEvaluationCallback,
    LearningCurveCallback,
    OnlineCollectionCallback,
    PeriodicEnvironmentEvaluationCallback,
    TimeLimitCallback,
)
from mrlm_hf.envs import TextEnv
from mrlm_hf.envs.registry import _REGISTRY
from mrlm_hf.plotting import plot_learning_curve

PACKAGE = Path(callbacks_module.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, including under ``if TYPE_CHECKING:`` and inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("name", ["callbacks.py", "online.py", "plotting.py", "evaluation.py"])
def test_feature_modules_do_not_import_the_trainer(name):
    assert "mrlm_hf.trainer" not in imported_modules(PACKAGE / name)


@pytest.mark.parametrize("name", ["callbacks.py", "online.py"])
def test_feature_modules_touch_no_private_field_of_another_object(name):
    """``obj._x`` is allowed only for ``self`` (the module's own state)."""
    tree = ast.parse((PACKAGE / name).read_text())
    private = [
        f"{ast.unparse(node.value)}.{node.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert private == []


@pytest.fixture(scope="module")
def math_data():
    return collect_trajectories("math", ExpertPolicy(), 8, progress=False)


def callback_types(trainer) -> list[type]:
    return [type(c) for c in trainer.callback_handler.callbacks]


def test_callbacks_come_from_the_config(tmp_path, math_data):
    plain = callback_types(make_trainer(tmp_path, math_data))
    assert LearningCurveCallback in plain
    assert OnlineCollectionCallback not in plain and EnvironmentEvaluationCallback not in plain
    assert LearningCurveCallback not in callback_types(make_trainer(tmp_path, math_data, plot_learning_curve=False))
    online = make_trainer(tmp_path, math_data, env="math", collect_every=2, max_steps=4, collect_policy="expert")
    assert OnlineCollectionCallback in callback_types(online)


def test_environment_evaluation_runs_before_the_users_callbacks(tmp_path, math_data):
    class User(TrainerCallback):
        pass

    from conftest import make_tokenizer

    from mrlm_hf import TrajectorySFTTrainer
    from mrlm_hf.tiny import build_model

    tokenizer = make_tokenizer("chatml")
    args = TrajectorySFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", eval_env_episodes=2)
    trainer = TrajectorySFTTrainer(
        build_model(tokenizer, hidden_size=32, intermediate_size=64),
        args=args,
        train_dataset=math_data,
        processing_class=tokenizer,
        env="math",
        callbacks=[User()],
    )
    types = callback_types(trainer)
    # So that e.g. EarlyStoppingCallback(metric_for_best_model="eval_env_success_rate") finds the metric.
    assert types.index(EnvironmentEvaluationCallback) < types.index(User)


def test_evaluation_metrics_use_the_evaluation_token_budget(tmp_path, math_data, monkeypatch):
    calls = []

    def fake_evaluate_policy(model, env, episodes, **kwargs):
        calls.append((env, episodes, kwargs["max_new_tokens"]))
        return {"success_rate": 0.25, "mean_return": 0.5, "mean_length": 2.0, "num_trajectories": episodes}

    monkeypatch.setattr(callbacks_module, "evaluate_policy", fake_evaluate_policy)
    trainer = make_trainer(
        tmp_path,
        math_data,
        eval_dataset=math_data,
        env="math",
        eval_env_episodes=3,
        collect_max_new_tokens=5,
        eval_max_new_tokens=9,
    )
    metrics = trainer.evaluate()
    assert calls == [("math", 3, 9)]
    assert metrics["eval_env_success_rate"] == 0.25 and metrics["eval_env_mean_length"] == 2.0
    assert "eval_env_num_trajectories" not in metrics and "eval_loss" in metrics
    assert any(h.get("eval_env_success_rate") == 0.25 for h in trainer.state.log_history)
    # A named evaluation set names the metrics after it.
    metrics = trainer.evaluate(trainer.eval_dataset, metric_key_prefix="test")
    assert metrics["test_env_success_rate"] == 0.25


def test_evaluation_budget_defaults_to_the_collection_budget(tmp_path):
    args = TrajectorySFTConfig(output_dir=str(tmp_path), use_cpu=True, collect_max_new_tokens=17)
    assert args.eval_max_new_tokens == 17
    with pytest.raises(ValueError, match="eval_max_new_tokens must be >= 1"):
        TrajectorySFTConfig(output_dir=str(tmp_path), use_cpu=True, eval_max_new_tokens=0)


class ParityEnv(TextEnv):
    """Succeeds (and ends) when the character codes of an action plus the task number sum to an even number, and scores
    that sum modulo 10: every figure of a greedy evaluation depends on what the model generates."""

    name = "parity"
    system_prompt = "Say something."

    def __init__(self, max_turns: int = 2) -> None:
        super().__init__(max_turns=max_turns)

    def _reset(self, options):
        self.task = self.rng.randint(0, 99)
        return f"Task {self.task}", {}

    def expert_action(self) -> str:
        return "ok"

    def _step(self, action):
        total = self.task + sum(map(ord, action))
        even = total % 2 == 0
        return "Good." if even else "Odd, again.", float(total % 10), even, {"success": even}


def test_periodic_evaluation_logs_held_out_success_every_n_steps_but_not_at_the_last(tmp_path, monkeypatch):
    """Every 2 steps of 6 (so at 2 and 4: the recipes score the final model themselves), logged at that very step
    although logging_steps is 10, and equal to evaluate_policy on the model as it was at that step."""
    from conftest import grpo_config, make_tokenizer

    from mrlm_hf.rl import EnvGRPOTrainer, env_prompt_dataset
    from mrlm_hf.tiny import build_model

    env, env_kwargs, episodes, max_new_tokens = "parity_callback_test", {"max_turns": 2}, 4, 6
    monkeypatch.setitem(_REGISTRY, env, ParityEnv)  # registered for this test only
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=16, intermediate_size=32)
    args = grpo_config(
        tmp_path, max_steps=6, logging_steps=10, per_device_train_batch_size=2, max_completion_length=32,
        max_turn_tokens=6, learning_rate=0.05,
    )  # fmt: skip
    trainer = EnvGRPOTrainer(model, args, env_prompt_dataset(env, 4, env_kwargs=env_kwargs), tokenizer)

    snapshots = {}

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            snapshots[state.global_step] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    trainer.add_callback(Snapshot())
    trainer.add_callback(
        PeriodicEnvironmentEvaluationCallback(
            trainer, env, env_kwargs, episodes, every=2, max_new_tokens=max_new_tokens
        )
    )
    trainer.train()

    logged = {h["step"]: h for h in trainer.state.log_history if "eval_env_success_rate" in h}
    assert sorted(logged) == [2, 4]
    for step, h in logged.items():
        trainer.model.load_state_dict(snapshots[step])
        stats = evaluate_policy(
            trainer.model, env, episodes, tokenizer=tokenizer, env_kwargs=env_kwargs, max_new_tokens=max_new_tokens,
            progress=False,
        )  # fmt: skip
        assert {k: h[f"eval_env_{k}"] for k in ("success_rate", "mean_return", "mean_length")} == {
            k: stats[k] for k in ("success_rate", "mean_return", "mean_length")
        }
        assert "eval_env_num_trajectories" not in h


@pytest.mark.parametrize("every,episodes", [(0, 4), (-1, 4), (2, 0)])
def test_periodic_evaluation_refuses_a_non_positive_period_or_episode_count(every, episodes):
    with pytest.raises(ValueError, match="every and episodes must be > 0"):
        PeriodicEnvironmentEvaluationCallback(None, "math", None, episodes, every)


def png_width(path: Path) -> int:
    """Width in pixels from a PNG's header (one panel is 500 pixels wide)."""
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_learning_curve_draws_the_rollout_reward_of_rl_runs(tmp_path):
    """An RL run logs ``reward`` (and no ``loss`` panel is needed to draw it); unknown keys alone draw nothing."""
    rewards = [{"step": 1, "reward": 0.2}, {"step": 2, "reward": 0.5}]
    path = plot_learning_curve(rewards, tmp_path / "reward.png")
    assert path == tmp_path / "reward.png" and png_width(path) == 500
    both = plot_learning_curve(rewards + [{"step": 2, "loss": 1.0}], tmp_path / "both.png")
    assert png_width(both) == 1000  # a training-loss panel and a reward panel
    assert plot_learning_curve([{"step": 1, "rewards/env_reward/mean": 0.2}], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


class TickingClock:
    """One second passes at every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now - 1.0


@pytest.mark.parametrize("save_strategy", ["steps", "no"])
def test_time_limit_stops_after_the_step_that_reaches_it_with_a_checkpoint_to_resume(
    tmp_path, math_data, save_strategy
):
    """Readings at 0 (train begins), then 1, 2, 3 after steps 1-3: a 2.5 s limit stops training after step 3 of 8,
    with a checkpoint there unless save_strategy is "no"; resuming from it runs the remaining steps."""
    config = dict(max_steps=8, save_strategy=save_strategy, save_steps=100, per_device_train_batch_size=2)
    trainer = make_trainer(tmp_path, math_data, **config)
    limit = TimeLimitCallback(trainer, 2.5, clock=TickingClock())
    trainer.add_callback(limit)
    trainer.train()
    assert (trainer.state.global_step, limit.stopped_at_step) == (3, 3)
    checkpoint = tmp_path / "checkpoint-3"
    assert checkpoint.is_dir() == (save_strategy == "steps")
    if save_strategy == "steps":
        resumed = make_trainer(tmp_path, math_data, **config)
        resumed.train(resume_from_checkpoint=str(checkpoint))
        assert resumed.state.global_step == 8


def test_time_limit_does_not_stop_a_run_that_ends_within_it(tmp_path, math_data):
    trainer = make_trainer(tmp_path, math_data, max_steps=3, per_device_train_batch_size=2)
    limit = TimeLimitCallback(trainer, 2.5, clock=TickingClock())  # reached at the last step: nothing to stop
    trainer.add_callback(limit)
    trainer.train()
    assert (trainer.state.global_step, limit.stopped_at_step) == (3, None)


@pytest.mark.parametrize("seconds,every", [(0, 10), (-1, 10), (5, 0)])
def test_time_limit_refuses_a_non_positive_limit_or_period(seconds, every):
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        TimeLimitCallback(None, seconds, sync_every=every)
