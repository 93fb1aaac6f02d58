"""The trainer's optional features as ``transformers.TrainerCallback``s, added by ``TrajectorySFTTrainer`` from its
config (TRL's ``trl/trainer/callbacks.py`` is the model):

* ``OnlineCollectionCallback`` (``collect_every > 0``): every N optimizer steps, play new episodes and train on them;
* ``EnvironmentEvaluationCallback`` (``eval_env_episodes`` / ``eval_world_model_transitions``): at each evaluation,
  play held-out episodes and score world-model predictions;
* ``LearningCurveCallback`` (``plot_learning_curve``): draw ``learning_curve.png`` at each save and at the end;
* ``NonFiniteGradientGuard`` (``EnvGRPOConfig.max_nonfinite_grad_steps``): skip an optimizer step whose gradient is
  not finite instead of writing NaN into the weights;
* ``PeriodicEnvironmentEvaluationCallback`` (the RL recipes' ``eval_every``): every N optimizer steps, play held-out
  episodes, for trainers without an evaluation loop of their own on environments (``GRPOTrainer``);
* ``TimeLimitCallback`` (the recipes' ``max_train_seconds``): stop training when a job's time is up, with a
  checkpoint to resume from, so that the recipe still saves, evaluates and reports the model it has.

Like TRL's callbacks, a callback that needs the trainer gets it at construction and uses only its public API (its
``accelerator``, ``model``, ``processing_class``, ``log`` and ``record_metrics``); nothing here imports
``mrlm_hf.trainer``, so there is no import cycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import broadcast_object_list
from datasets import Dataset
from transformers import TrainerCallback

from mrlm_hf.evaluation import evaluate_policy, evaluate_world_model
from mrlm_hf.online import OnlineCollector
from mrlm_hf.plotting import CURVE_FILE, plot_learning_curve

logger = logging.getLogger(__name__)


class OnlineCollectionCallback(TrainerCallback):
    """Refreshes ``collector``'s buffer every ``args.collect_every`` optimizer steps (not after the last one) and
    hands the collection's statistics (``collect_success_rate``, ``buffer_trajectories``, ...) to ``record_metrics``,
    which logs them with the next training log."""

    def __init__(self, collector: OnlineCollector, record_metrics: Callable[[dict[str, float]], None]) -> None:
        self.collector, self.record_metrics = collector, record_metrics

    def on_step_end(self, args, state, control, **kwargs):
        every = args.collect_every
        if every and state.global_step % every == 0 and state.global_step < state.max_steps:
            self.record_metrics(self.collector.collect(state.global_step))
        return control


class RecordsMetrics:
    """Mixin for TRL trainers (whose ``log`` averages ``self._metrics[mode]``): ``record_metrics`` hands figures
    computed between logs to the next log."""

    def record_metrics(self, metrics: dict[str, float], mode: str = "train") -> None:
        """Log ``metrics`` with the next ``mode`` log (a later value of a key replaces an earlier one). For callbacks
        that compute figures between logs, such as online collection's ``collect_success_rate``."""
        for key, value in metrics.items():
            self._metrics[mode][key] = [value]


def _on_main_process(trainer: Any, compute: Callable[[Any], dict[str, float]]) -> dict[str, float]:
    """``compute(unwrapped model)`` on the main process; every process gets its dict. Empty under FSDP, where
    generation needs every rank in every forward pass."""
    if trainer.is_fsdp_enabled:
        return {}
    accelerator = trainer.accelerator
    extra = compute(accelerator.unwrap_model(trainer.model)) if accelerator.is_main_process else {}
    if accelerator.num_processes > 1:
        extra = broadcast_object_list([extra])[0]
    return extra


def _play_held_out(
    model: Any, tokenizer: Any, env: Any, env_kwargs: dict[str, Any], episodes: int, max_new_tokens: int | None
) -> dict[str, float]:
    """Greedy success, mean return and length on ``episodes`` held-out episodes (seeds from ``EVAL_SEED``)."""
    stats = evaluate_policy(
        model,
        env,
        episodes,
        tokenizer=tokenizer,
        env_kwargs=env_kwargs,
        max_new_tokens=max_new_tokens,
        progress=False,
    )
    return {k: v for k, v in stats.items() if k != "num_trajectories"}


class EnvironmentEvaluationCallback(TrainerCallback):
    """After each evaluation, the model's success on held-out episodes of ``env`` (``<prefix>_env_success_rate``,
    ``_mean_return``, ``_mean_length``) and its next-observation predictions on ``eval_trajectories``
    (``<prefix>_wm_exact_match``, ``<prefix>_wm_token_accuracy``), added to the evaluation's metrics and logged.

    Runs on the main process with the unwrapped model, the others wait and receive the figures. Skipped under FSDP,
    where generation needs every rank in every forward pass."""

    def __init__(
        self,
        trainer: Any,
        env: Any = None,
        env_kwargs: dict[str, Any] | None = None,
        eval_trajectories: Dataset | None = None,
    ) -> None:
        self.trainer, self.env, self.env_kwargs = trainer, env, env_kwargs or {}
        self.eval_trajectories = eval_trajectories

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics is None:
            return control
        prefix = next((key[: -len("_runtime")] for key in metrics if key.endswith("_runtime")), "eval")
        extra = self.evaluate(args, prefix)
        if extra:
            self.trainer.log(extra)
            metrics.update(extra)  # the dict Trainer.evaluate returns (and metric_for_best_model reads)
        return control

    def evaluate(self, args: Any, prefix: str = "eval") -> dict[str, float]:
        """The environment metrics named with ``prefix`` (every process gets the same dict; empty if disabled)."""
        trainer = self.trainer
        wants_env = args.eval_env_episodes > 0 and self.env is not None
        wants_wm = args.eval_world_model_transitions > 0 and self.eval_trajectories is not None
        if not (wants_env or wants_wm):
            return {}

        def compute(model: Any) -> dict[str, float]:
            extra, tokenizer = {}, trainer.processing_class
            if wants_env:
                stats = _play_held_out(
                    model, tokenizer, self.env, self.env_kwargs, args.eval_env_episodes, args.eval_max_new_tokens
                )
                extra.update({f"{prefix}_env_{k}": v for k, v in stats.items()})
            if wants_wm:
                stats = evaluate_world_model(
                    model,
                    tokenizer,
                    self.eval_trajectories,
                    max_transitions=args.eval_world_model_transitions,
                    max_length=args.max_length,
                    max_new_tokens=args.eval_max_new_tokens,
                )
                extra.update({f"{prefix}_{k}": v for k, v in stats.items() if k != "wm_num_transitions"})
            return extra

        return _on_main_process(trainer, compute)


class PeriodicEnvironmentEvaluationCallback(TrainerCallback):
    """Every ``every`` optimizer steps (not after the last: the recipes score the final model themselves), greedy
    success on ``episodes`` held-out episodes of ``env``, logged with the next training log as
    ``eval_env_success_rate``, ``eval_env_mean_return`` and ``eval_env_mean_length`` (``trainer.record_metrics``):
    a learning curve on held-out seeds for trainers whose own evaluation loop knows nothing of environments."""

    def __init__(
        self,
        trainer: Any,
        env: Any,
        env_kwargs: dict[str, Any] | None,
        episodes: int,
        every: int,
        max_new_tokens: int | None = None,
    ) -> None:
        if every <= 0 or episodes <= 0:
            raise ValueError(f"every and episodes must be > 0; got every={every}, episodes={episodes}.")
        self.trainer, self.env, self.env_kwargs = trainer, env, env_kwargs or {}
        self.episodes, self.every, self.max_new_tokens = episodes, every, max_new_tokens

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every == 0 and state.global_step < state.max_steps:
            trainer = self.trainer
            extra = _on_main_process(
                trainer,
                lambda model: _play_held_out(
                    model, trainer.processing_class, self.env, self.env_kwargs, self.episodes, self.max_new_tokens
                ),
            )
            trainer.record_metrics({f"eval_env_{k}": v for k, v in extra.items()})
            control.should_log = True  # logged at this step, not at the next logging step
        return control


class LearningCurveCallback(TrainerCallback):
    """Writes ``learning_curve.png`` into ``output_dir`` at every save and at the end of training."""

    def _draw(self, args, state) -> None:
        if state.is_world_process_zero:
            plot_learning_curve(state.log_history, Path(args.output_dir) / CURVE_FILE)

    def on_save(self, args, state, control, **kwargs):
        self._draw(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self._draw(args, state)


class NonFiniteGradientGuard(TrainerCallback):
    """Skips an optimizer step whose gradient norm is not finite: the gradients are dropped (``grad = None``, which
    the optimizer skips), ``nonfinite_grad_steps`` (skipped so far) is logged, and a warning names the first step.
    Without it one NaN gradient turns every weight into NaN and the next rollout fails on NaN probabilities. More
    than ``max_consecutive`` such steps in a row stop training with an error: the run has diverged.

    All processes take the same decision (the flag is summed across them), so replicas and shards stay in step.
    ``on_first_skip(step)``, if given, runs once, before the first skipped step's gradients are dropped (e.g. to
    save the batch and the weights that produced them)."""

    def __init__(self, trainer: Any, max_consecutive: int, on_first_skip: Callable[[int], None] | None = None) -> None:
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive must be >= 1, got {max_consecutive}.")
        self.trainer, self.max_consecutive, self.on_first_skip = trainer, max_consecutive, on_first_skip
        self.skipped = self.consecutive = 0

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        trainer = self.trainer
        params = [p for p in trainer.model.parameters() if p.grad is not None]
        if not params:
            return control
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if hasattr(norm, "full_tensor"):  # a DTensor (FSDP2): the norm over every shard
            norm = norm.full_tensor()
        bad = (~torch.isfinite(norm)).float()
        if trainer.accelerator.num_processes > 1:
            bad = trainer.accelerator.reduce(bad, reduction="sum")
        if not bad.item():
            self.consecutive = 0
            return control
        if self.skipped == 0 and self.on_first_skip is not None:
            self.on_first_skip(state.global_step + 1)
        for p in params:
            p.grad = None
        self.skipped, self.consecutive = self.skipped + 1, self.consecutive + 1
        if self.skipped == 1:
            logger.warning(
                "Optimizer step %d skipped: the gradient is not finite (the weights are kept). Further skips are "
                "counted in the logged nonfinite_grad_steps.",
                state.global_step + 1,
            )
        if self.consecutive > self.max_consecutive:
            raise FloatingPointError(
                f"{self.consecutive} optimizer steps in a row had a non-finite gradient (last at step "
                f"{state.global_step + 1}): training has diverged. Lower learning_rate, or check the rewards and "
                "the data for NaN or infinite values."
            )
        trainer.record_metrics({"nonfinite_grad_steps": float(self.skipped)})
        return control


class TimeLimitCallback(TrainerCallback):
    """Stops training once ``max_seconds`` have passed since it began (a job's time limit): the optimizer step in
    progress finishes, a checkpoint is saved unless ``save_strategy`` is ``"no"`` (``resume_from_checkpoint``
    continues from it), and what follows ``train()`` (saving, held-out evaluation, the summary) still runs, instead
    of the job being killed with nothing written. The schedule is not shortened: the learning rate stays where the
    planned ``max_steps`` put it. ``stopped_at_step`` is the step it stopped at (``None``: it did not).

    Every process takes the same decision: with several, the flag is summed across them every ``sync_every`` steps
    (one small collective there, none in between); a single process checks its clock after every step."""

    def __init__(
        self,
        trainer: Any,
        max_seconds: float,
        sync_every: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_seconds <= 0 or sync_every < 1:
            raise ValueError(f"max_seconds must be > 0 and sync_every >= 1; got {max_seconds} and {sync_every}.")
        self.trainer, self.max_seconds, self.sync_every, self.clock = trainer, max_seconds, sync_every, clock
        self.start: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.clock()

    def on_step_end(self, args, state, control, **kwargs):
        accelerator = self.trainer.accelerator
        if accelerator.num_processes > 1 and state.global_step % self.sync_every:
            return control
        over = self.clock() - self.start >= self.max_seconds
        if accelerator.num_processes > 1:
            flag = torch.tensor(float(over), device=accelerator.device)
            over = bool(accelerator.reduce(flag, reduction="sum").item())
        if over and state.global_step < state.max_steps:
            control.should_training_stop = True
            control.should_save = args.save_strategy != "no"
            self.stopped_at_step = state.global_step
            logger.warning(
                "Training stopped at step %d of %d: max_train_seconds (%g s) reached.%s",
                state.global_step,
                state.max_steps,
                self.max_seconds,
                " A checkpoint was saved (resume_from_checkpoint)." if control.should_save else "",
            )
        return control
