"""The trainer's optional features are callbacks added from its config, with no import cycle and no writes to
another object's private fields; evaluation on environments has its own generation budget."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import make_trainer
from transformers import TrainerCallback

import mrlm_hf.callbacks as callbacks_module
from mrlm_hf import ExpertPolicy, TrajectorySFTConfig, collect_trajectories
from mrlm_hf.callbacks import EnvironmentEvaluationCallback, LearningCurveCallback, OnlineCollectionCallback

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
