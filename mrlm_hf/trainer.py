"""``TrajectorySFTTrainer``: TRL's ``SFTTrainer`` trained on trajectories with per-objective token losses.

The loss of a global batch (all gradient-accumulation micro-batches on all ranks) is

    bc_weight * (sum of NLL over action tokens) / (number of action tokens)
  + world_model_weight * (sum of NLL over next-observation tokens) / (number of next-observation tokens)

computed from TRL's fused LM head (per-token log-probabilities, no full-vocabulary logits). The token counts are
taken over the whole global batch before the first micro-batch runs (``_get_num_items_in_batch``), so gradient
accumulation and several processes give the same gradient as one big batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoTokenizer, PreTrainedModel
from trl import SFTTrainer, pack_dataset

from mrlm_hf.attention import apply_fast_kernels
from mrlm_hf.callbacks import (
    EnvironmentEvaluationCallback,
    LearningCurveCallback,
    OnlineCollectionCallback,
    RecordsMetrics,
)
from mrlm_hf.collator import TrajectoryCollator
from mrlm_hf.config import TrajectorySFTConfig
from mrlm_hf.data import TrajectoryCounts, filter_by_reward, validate_trajectories
from mrlm_hf.online import OnlineCollector
from mrlm_hf.tokenize import ACTION, OBSERVATION, mode_targets, tokenize_trajectories

logger = logging.getLogger(__name__)

_OBJECTIVES = (("bc", ACTION), ("wm", OBSERVATION))
_NO_STEP = 2**62  # "no non-finite loss yet" in the on-device first-bad-step tracker


class TrajectorySFTTrainer(RecordsMetrics, SFTTrainer):
    """Behavioral cloning, world-model or combined training on a trajectory (or transition) dataset.

    ``train_dataset``/``eval_dataset`` may be trajectory datasets (``mrlm_hf.rollout``), transition datasets
    (``mrlm_hf.data.to_transitions``) or datasets already tokenized with ``input_ids``, ``labels`` and
    ``token_types``. ``env``/``env_kwargs`` name the environment for online collection and evaluation. Other
    arguments are those of ``trl.SFTTrainer``. The optional features are callbacks (``mrlm_hf.callbacks``) added
    from ``args``: online collection (``collect_every``), evaluation on the environment (``eval_env_episodes``,
    ``eval_world_model_transitions``) and the learning-curve plot (``plot_learning_curve``)."""

    _tag_names = ["trl", "sft", "mrlm_hf"]
    # compute_loss divides by token counts of the whole accumulated batch, so Trainer must not rescale it.
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: TrajectorySFTConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: Any = None,
        data_collator: Any = None,
        env: str | Callable[[], Any] | None = None,
        env_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if args is None:
            args = TrajectorySFTConfig(output_dir="trajectory-sft")
        if not isinstance(args, TrajectorySFTConfig):
            raise TypeError(f"args must be a TrajectorySFTConfig, got {type(args).__name__}.")
        if args.loss_type != "nll":
            raise ValueError(f"TrajectorySFTTrainer supports loss_type='nll' only, got {args.loss_type!r}.")
        if train_dataset is None:
            raise ValueError("train_dataset is required (a trajectory, transition or tokenized dataset).")
        if isinstance(model, str):
            check_model_path(model)
        if processing_class is None:
            name = model if isinstance(model, str) else model.config._name_or_path
            processing_class = AutoTokenizer.from_pretrained(check_model_path(name))
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if (args.eval_env_episodes or args.collect_every) and env is None:
            raise ValueError("eval_env_episodes and collect_every need the environment: pass env=... (and env_kwargs).")
        if args.collect_every > 0 and "observations" not in train_dataset.column_names:
            raise ValueError("Online collection needs a trajectory dataset (not tokenized examples) to grow.")
        self.num_dropped_examples = 0
        self.env, self.env_kwargs = env, env_kwargs or {}
        raw_train, raw_eval = train_dataset, eval_dataset
        train_dataset = self.prepare_dataset(train_dataset, tokenizer, args)
        if isinstance(eval_dataset, dict):
            eval_dataset = {k: self.prepare_dataset(v, tokenizer, args, pack=False) for k, v in eval_dataset.items()}
        elif eval_dataset is not None:
            eval_dataset = self.prepare_dataset(eval_dataset, tokenizer, args, pack=False)

        padding_free = args.padding_free or args.packing
        if data_collator is None:
            data_collator = TrajectoryCollator(
                pad_token_id=tokenizer.pad_token_id,
                padding_free=padding_free,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )
        # Held-out trajectories for world-model evaluation (raw, not tokenized).
        self.eval_trajectories = (
            raw_eval if isinstance(raw_eval, Dataset) and "observations" in raw_eval.column_names else None
        )
        # Evaluation on the environment goes before the user's callbacks, so that one reading its metrics in
        # on_evaluate (EarlyStoppingCallback with metric_for_best_model="eval_env_success_rate") finds them.
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if args.eval_env_episodes or args.eval_world_model_transitions:
            callbacks.insert(0, EnvironmentEvaluationCallback(self, env, self.env_kwargs, self.eval_trajectories))
        if args.plot_learning_curve:
            callbacks.append(LearningCurveCallback())
        # TRL refuses a custom collator in padding-free mode and would re-pack; our dataset is already prepared.
        user_flags = (args.packing, args.padding_free, args.dataset_kwargs)
        args.packing, args.padding_free = False, False
        args.dataset_kwargs = {**(args.dataset_kwargs or {}), "skip_prepare_dataset": True}
        try:
            super().__init__(
                model,
                args=args,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                data_collator=data_collator,
                callbacks=callbacks,
                **kwargs,
            )
        finally:
            args.packing, args.padding_free, args.dataset_kwargs = user_flags
        self.padding_free = padding_free
        self.fast_kernels: list[str] = []
        if args.fast_gpu_defaults and torch.cuda.is_available() and not args.use_cpu:
            self.fast_kernels = apply_fast_kernels(self.model, padding_free=padding_free)
        self._objective_stats: dict[str, torch.Tensor] = {}
        self._pending_train_tokens: torch.Tensor | int = 0
        self._nonfinite_step: torch.Tensor | None = None
        self.online: OnlineCollector | None = None
        if args.collect_every > 0:
            self.online = OnlineCollector(self, raw_train, env, env_kwargs)
            self.add_callback(OnlineCollectionCallback(self.online, self.record_metrics))

    # ------------------------------------------------------------------ data
    def prepare_dataset(
        self, dataset: Dataset, tokenizer: Any, args: TrajectorySFTConfig, pack: bool | None = None
    ) -> Dataset:
        """Validate, filter by reward, tokenize with token types for ``args.mode``, and pack if ``args.packing``.

        Every refusal names what is wrong and what to do: an empty dataset, a reward filter that keeps nothing or
        has no ``return`` column to read, a mode with nothing to train, or examples that are all too long."""
        if "input_ids" not in dataset.column_names:
            if len(dataset) == 0:
                raise ValueError(
                    "The dataset has no trajectories. Collect some (mrlm_hf.collect_trajectories) or check the path "
                    "or split you loaded."
                )
            counts = validate_trajectories(dataset)
            if args.filter_low_reward:
                kept = filter_by_reward(dataset, args.min_reward_threshold)
                if len(kept) == 0:
                    best = max(dataset["return"])
                    raise ValueError(
                        f"filter_low_reward removed all {len(dataset)} trajectories: none has a return >= "
                        f"min_reward_threshold={args.min_reward_threshold} (the highest is {best}). Lower "
                        "min_reward_threshold, or collect better trajectories."
                    )
                if len(kept) < len(dataset):
                    dataset, counts = kept, validate_trajectories(kept)
            dataset = self._check_targets(dataset, counts, args.mode)
            dataset, dropped = tokenize_trajectories(
                dataset, tokenizer, args.mode, args.max_length, args.layout, num_proc=args.dataset_num_proc
            )
            self.num_dropped_examples += dropped
            if len(dataset) == 0:
                raise ValueError(
                    f"All {dropped} examples were dropped: their training targets alone are longer than "
                    f"max_length={args.max_length} tokens. Raise max_length, or use layout='transition' (one example "
                    "per step)."
                )
        elif args.filter_low_reward:
            raise ValueError(
                "filter_low_reward=True needs trajectories with a 'return' column, but this dataset is already "
                "tokenized: filter it before tokenizing (mrlm_hf.filter_by_reward), or pass the trajectories."
            )
        missing = {"input_ids", "labels", "token_types"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"Tokenized dataset lacks columns {sorted(missing)}; build it with tokenize_trajectories.")
        if len(dataset) == 0:
            raise ValueError("The tokenized dataset has no examples: tokenize a non-empty trajectory dataset.")
        if (args.packing if pack is None else pack) and "seq_lengths" not in dataset.column_names:
            dataset = pack_dataset(dataset, args.max_length, args.packing_strategy)
        return dataset

    @staticmethod
    def _check_targets(dataset: Dataset, counts: TrajectoryCounts, mode: str) -> Dataset:
        """Refuse a mode with nothing to train; in world-model mode, leave out the last action of episodes cut
        before their final observation (it has no next observation to predict; see mrlm_hf.data)."""
        train_actions, train_observations = mode_targets(mode)
        actions = counts.actions if train_actions else 0
        observations = counts.next_observations if train_observations else 0
        if actions + observations == 0:
            if train_observations and not train_actions:
                raise ValueError(
                    f"Nothing to predict in world_model mode: none of the {counts.rows} trajectories has an "
                    "observation after an action (a next observation is the world-model target). Collect complete "
                    "episodes (observations = actions + 1), or train with mode='behavioral_cloning'."
                )
            raise ValueError(
                f"None of the {counts.rows} trajectories has an action to train on: collect episodes with at least "
                "one step."
            )
        if mode == "world_model" and counts.cut_rows:
            dataset = dataset.map(_drop_unpredictable_last_action, batched=True, desc="Cut episodes")
        return dataset

    def get_train_dataloader(self):
        """Offline: TRL's loader. Online: an endless stream over the collector's current buffer, sharded by process
        in the stream itself (batches move to the device in ``_prepare_inputs``)."""
        if self.online is None:
            return super().get_train_dataloader()
        return torch.utils.data.DataLoader(
            self.online.stream(), batch_size=self._train_batch_size, collate_fn=self.data_collator, num_workers=0
        )

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = ["input_ids", "labels", "token_types", "seq_lengths"]

    # ------------------------------------------------------------------ loss
    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | None:
        """Action and next-observation token counts of the whole accumulated batch, over all processes."""
        if not batch_samples or "token_types" not in batch_samples[0]:
            return super()._get_num_items_in_batch(batch_samples, device)
        # Counted where the batches are (the device, once Accelerate's loader moved them): no host sync per step.
        counts = torch.zeros(len(_OBJECTIVES), dtype=torch.long, device=device)
        for batch in batch_samples:
            trained = batch["labels"][..., 1:] != -100
            types = batch["token_types"][..., 1:]
            counts += torch.stack([(trained & (types == token_type)).sum() for _, token_type in _OBJECTIVES]).to(device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return counts

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | None = None,
    ):
        mode = "train" if self.model.training else "eval"
        token_types = inputs.pop("token_types")[:, 1:]
        inputs["use_cache"] = False
        outputs = model(**inputs, fused_lm_head=True)
        nll = -outputs.log_probs  # (batch, seq - 1): zero where the label is -100
        trained = outputs.label_mask.bool()
        stats, loss = [], nll.new_zeros(())
        distributed = num_items_in_batch is not None and self.args.average_tokens_across_devices
        weights = self.args.objective_weights(self.state.global_step, self.state.max_steps)
        for i, ((_, token_type), weight) in enumerate(zip(_OBJECTIVES, weights)):
            selected = trained & (token_types == token_type)
            nll_sum = (nll * selected).sum()
            count = selected.sum()
            denominator = count if num_items_in_batch is None else num_items_in_batch[i]
            if weight:
                loss = loss + weight * nll_sum / denominator.clamp(min=1)
            correct = (outputs.is_top1.bool() & selected).sum()
            stats.extend([nll_sum.detach().float(), count.float(), correct.float()])
        if distributed:
            # DDP/FSDP average gradients over processes; the denominators already count every process's tokens.
            loss = loss * self.accelerator.num_processes

        # Metrics stay on the device and are summed over processes only when logged: no sync per micro-batch.
        self._objective_stats[mode] = self._objective_stats.get(mode, 0) + torch.stack(stats)
        if mode == "train":
            # A padding-free batch has no pad tokens: its count is a host number and stays one (building a device
            # tensor from it is a host-to-device copy, which waits for the GPU at every micro-batch).
            tokens = inputs["attention_mask"].sum() if "attention_mask" in inputs else inputs["input_ids"].numel()
            self._pending_train_tokens = self._pending_train_tokens + tokens
            # The first optimizer step whose loss is NaN/inf, kept on the device and read when logging (no sync).
            bad_step = torch.where(torch.isfinite(loss.detach()), _NO_STEP, self.state.global_step + 1)
            previous = self._nonfinite_step
            self._nonfinite_step = bad_step if previous is None else torch.minimum(previous, bad_step)
        return (loss, outputs) if return_outputs else loss

    def _raise_if_loss_was_not_finite(self) -> None:
        """Stop training with an error naming the first step whose loss was NaN or infinite (checked when logging,
        where every process syncs anyway; Trainer's ``logging_nan_inf_filter``, off by default here, would hide it)."""
        if self._nonfinite_step is None:
            return
        first = int(self.accelerator.gather(self._nonfinite_step.reshape(1)).min())
        self._nonfinite_step = None
        if first != _NO_STEP:
            raise RuntimeError(
                f"The training loss became NaN or infinite at step {first}: training stopped there. Lower "
                "learning_rate (or set max_grad_norm), check the model's dtype (fp16 overflows; use bf16 or fp32), "
                "and check the data; resume from a checkpoint saved before that step."
            )

    # ------------------------------------------------------------------ logging
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        self._raise_if_loss_was_not_finite()
        pending = self._pending_train_tokens
        if torch.is_tensor(pending) or pending:  # every process logs at the same time: safe to reduce here
            pending = torch.as_tensor(pending, device=self.accelerator.device)
            self._total_train_tokens += int(self.accelerator.reduce(pending, reduction="sum"))
            self._pending_train_tokens = 0
        stats = self._objective_stats.pop(mode, None)
        if stats is not None:
            values = self.accelerator.reduce(stats, reduction="sum").tolist()
            prefix = "eval_" if mode == "eval" else ""
            total_nll, total_count, total_correct = 0.0, 0.0, 0.0
            for i, (name, _) in enumerate(_OBJECTIVES):
                nll_sum, count, correct = values[3 * i : 3 * i + 3]
                if count > 0:
                    logs[f"{prefix}loss_{name}"] = nll_sum / count
                    logs[f"{prefix}ppl_{name}"] = math.exp(min(nll_sum / count, 50.0))
                    logs[f"{prefix}accuracy_{name}"] = correct / count
                total_nll, total_count, total_correct = (
                    total_nll + nll_sum,
                    total_count + count,
                    total_correct + correct,
                )
            if total_count > 0:
                logs[f"{prefix}mean_token_accuracy"] = total_correct / total_count
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        super().log(logs, start_time)


def check_model_path(name: str) -> str:
    """Return ``name``, or refuse a model path that cannot be loaded with an error that says why.

    A name that exists on disk is a local checkpoint. One that is not a valid Hub repo id (``./out``, ``/abs/dir``,
    ``a/b/c``) can only be a local directory, so it is reported missing rather than as a malformed repo id; a repo
    id that is not on disk cannot be downloaded with ``HF_HUB_OFFLINE=1``, which is said too."""
    from huggingface_hub.constants import HF_HUB_OFFLINE
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(name).expanduser().exists():
        return name
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(
            f"Model path {name!r} does not exist (resolved: {Path(name).expanduser().resolve()}). Give the directory "
            "that save_pretrained/save_model wrote (it holds config.json), or a Hub repo id such as 'Qwen/Qwen2.5-0.5B'."
        ) from None
    if HF_HUB_OFFLINE:
        raise FileNotFoundError(
            f"{name!r} is not a local directory, and HF_HUB_OFFLINE=1 forbids downloading it from the Hub. Fix the "
            "path, or unset HF_HUB_OFFLINE to download the repo."
        )
    return name


def _drop_unpredictable_last_action(batch: dict[str, list]) -> dict[str, list]:
    """World-model mode: a trajectory cut before its final observation loses its last action (nothing follows it)."""
    if "next_observation" in batch:
        return batch
    for i, (observations, actions) in enumerate(zip(batch["observations"], batch["actions"])):
        if actions and len(observations) == len(actions):
            for column in ("actions", "rewards", "infos"):
                if column in batch:
                    batch[column][i] = batch[column][i][:-1]
            if "length" in batch:
                batch["length"][i] = len(actions) - 1
    return batch
