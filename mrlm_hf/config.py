"""``TrajectorySFTConfig``: TRL's ``SFTConfig`` plus what trajectory training needs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any

from trl import SFTConfig

from mrlm_hf.tokenize import LAYOUTS, MODES

logger = logging.getLogger(__name__)

COLLECT_POLICIES = ("model", "expert", "mix")
SCHEDULES = ("weighted", "sequential")


@dataclass
class TrajectorySFTConfig(SFTConfig):
    r"""Configuration of :class:`~mrlm_hf.trainer.TrajectorySFTTrainer`.

    Every ``SFTConfig``/``TrainingArguments`` field keeps its meaning; the fields below are added, or choose a
    default of their own when left unset (``None``).

    Parameters:
        > What is trained

        mode (`str`, defaults to `"combined"`):
            `"behavioral_cloning"` (the action tokens and their end-of-turn token), `"world_model"` (the observation
            tokens after each action) or `"combined"` (both, weighted by `bc_weight` and `world_model_weight`).
        bc_weight (`float`, defaults to `0.5`):
            Weight of the behavioral-cloning loss (mean NLL over action tokens) in combined mode.
        world_model_weight (`float`, defaults to `0.5`):
            Weight of the world-model loss (mean NLL over next-observation tokens) in combined mode.
        schedule (`str`, defaults to `"weighted"`):
            `"weighted"`: every step trains both objectives with their weights. `"sequential"`: a world-model phase
            (the first `world_model_phase_fraction` of the steps), then a behavioral-cloning phase.
        world_model_phase_fraction (`float`, defaults to `0.5`):
            Fraction of the steps spent in the world-model phase of the sequential schedule.

        > The training data

        layout (`str`, defaults to `"auto"`):
            `"trajectory"` (one sequence per trajectory), `"transition"` (one example per step) or `"auto"`
            (trajectory when it fits in `max_length`, else per step).
        filter_low_reward (`bool`, defaults to `False`):
            Drop trajectories whose return is below `min_reward_threshold` before training.
        min_reward_threshold (`float`, defaults to `0.0`):
            Return threshold used when `filter_low_reward` is set.

        > Online collection (needs `env=` on the trainer)

        collect_every (`int`, defaults to `0`):
            Collect new trajectories every N optimizer steps (0: offline).
        collect_episodes (`int`, defaults to `32`):
            Episodes played at each collection, over all processes.
        collect_policy (`str`, defaults to `"model"`):
            Who acts: `"model"`, `"expert"` or `"mix"` (expert with probability `collect_expert_fraction`).
        collect_expert_fraction (`float`, defaults to `0.5`):
            Fraction of expert episodes when `collect_policy="mix"`.
        collect_max_new_tokens (`int`, defaults to `64`):
            Token budget per action when the model collects.
        collect_temperature (`float`, defaults to `1.0`):
            Sampling temperature of the model when it collects.
        max_trajectories (`int`, defaults to `1000`):
            Most trajectories kept in the training buffer (oldest dropped first).

        > Evaluation on environments (at each evaluation)

        eval_env_episodes (`int`, defaults to `0`):
            Held-out episodes the model plays (`eval_env_success_rate`, ...; needs `env=` on the trainer).
        eval_world_model_transitions (`int`, defaults to `0`):
            Held-out transitions whose next observation the model predicts (`eval_wm_exact_match`, ...).
        eval_max_new_tokens (`int`, *optional*):
            Token budget per generated action or observation during evaluation; `None`: `collect_max_new_tokens`.
        plot_learning_curve (`bool`, defaults to `True`):
            Write `learning_curve.png` into `output_dir` at every save and at the end of training.

        > Speed (`None`: chosen for you; an explicit value is always kept)

        fast_gpu_defaults (`bool`, defaults to `True`):
            On a CUDA machine: `packing` and no activation checkpointing where those are unset, packed-sequence
            attention and Liger kernels (when installed). Logged once.
        packing (`bool`, *optional*):
            `None`: True under `fast_gpu_defaults` on CUDA, else False.
        activation_checkpointing (`bool`, *optional*):
            `None`: False under `fast_gpu_defaults` on CUDA, else True (TRL's default). `gradient_checkpointing` is
            its deprecated alias.
        logging_nan_inf_filter (`bool`, defaults to `False`):
            Trainer's filter reads the loss on the host at every micro-batch (a GPU sync); the trainer instead stops
            with an error naming the first step whose loss was NaN or infinite.
        ddp_find_unused_parameters (`bool`, *optional*):
            `None`: False. Every parameter of a causal LM takes part in the loss, so DDP's search for unused ones
            each step is wasted; set True for a model with parameters outside the loss.
        ddp_broadcast_buffers (`bool`, *optional*):
            `None`: False. A causal LM's buffers (rotary frequencies) are the same constants on every process, so
            DDP need not broadcast them before every forward pass.

    On a machine without CUDA, `bf16` defaults to `False` (TRL's `True` would raise there).
    """

    # ------------------------------------------------------------------ what is trained
    mode: str = field(
        default="combined",
        metadata={
            "help": "What to train: 'behavioral_cloning' (observation -> action: the action tokens and their "
            "end-of-turn token), 'world_model' (state + action -> next observation: the observation tokens after each "
            "action) or 'combined' (both, weighted by bc_weight and world_model_weight).",
            "choices": list(MODES),
        },
    )
    bc_weight: float = field(
        default=0.5,
        metadata={"help": "Weight of the behavioral-cloning loss (mean NLL over action tokens) in combined mode."},
    )
    world_model_weight: float = field(
        default=0.5,
        metadata={"help": "Weight of the world-model loss (mean NLL over next-observation tokens) in combined mode."},
    )
    schedule: str = field(
        default="weighted",
        metadata={
            "help": "'weighted': every step trains bc_weight * BC + world_model_weight * WM. 'sequential': a "
            "world-model phase (the first world_model_phase_fraction of the steps) followed by a behavioral-cloning "
            "phase, in one run (implicit world modeling, then imitation). Needs mode='combined'.",
            "choices": list(SCHEDULES),
        },
    )
    world_model_phase_fraction: float = field(
        default=0.5, metadata={"help": "Fraction of the training steps spent in the world-model phase (sequential)."}
    )
    # ------------------------------------------------------------------ the training data
    layout: str = field(
        default="auto",
        metadata={
            "help": "'trajectory': one sequence per trajectory trains every step in one forward pass; 'transition': "
            "one example per step (for histories longer than max_length); 'auto': trajectory when it fits, else "
            "per-step.",
            "choices": list(LAYOUTS),
        },
    )
    filter_low_reward: bool = field(
        default=False,
        metadata={"help": "Drop trajectories whose return is below min_reward_threshold before training."},
    )
    min_reward_threshold: float = field(
        default=0.0, metadata={"help": "Return threshold used when filter_low_reward is set."}
    )
    # ------------------------------------------------------------------ online collection
    collect_every: int = field(
        default=0,
        metadata={
            "help": "Collect new trajectories every N optimizer steps during training (0: offline, no collection)."
        },
    )
    collect_episodes: int = field(
        default=32, metadata={"help": "Episodes played at each online collection, over all processes."}
    )
    collect_policy: str = field(
        default="model",
        metadata={
            "help": "Who acts during online collection: 'model' (the model being trained), 'expert' (the "
            "environment's scripted expert) or 'mix' (each episode picks one, expert with probability "
            "collect_expert_fraction).",
            "choices": list(COLLECT_POLICIES),
        },
    )
    collect_expert_fraction: float = field(
        default=0.5, metadata={"help": "Fraction of expert episodes when collect_policy='mix'."}
    )
    collect_max_new_tokens: int = field(
        default=64, metadata={"help": "Token budget per action when the model collects online."}
    )
    collect_temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature of the model during online collection."}
    )
    max_trajectories: int = field(
        default=1000,
        metadata={
            "help": "Most trajectories kept in the training data during online collection (oldest dropped first)."
        },
    )
    # ------------------------------------------------------------------ evaluation on environments
    eval_env_episodes: int = field(
        default=0,
        metadata={
            "help": "At each evaluation, play this many held-out episodes of the training environment with the model "
            "(logged as eval_env_success_rate, eval_env_mean_return, eval_env_mean_length); 0 disables."
        },
    )
    eval_world_model_transitions: int = field(
        default=0,
        metadata={
            "help": "At each evaluation, score next-observation predictions on this many held-out transitions "
            "(eval_wm_exact_match, eval_wm_token_accuracy); 0 disables."
        },
    )
    eval_max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Token budget per generated action or observation during evaluation on environments "
            "(default: collect_max_new_tokens)."
        },
    )
    plot_learning_curve: bool = field(
        default=True,
        metadata={"help": "Write learning_curve.png into output_dir at every save and at the end of training."},
    )
    # ------------------------------------------------------------------ speed (None: chosen for you)
    fast_gpu_defaults: bool = field(
        default=True,
        metadata={
            "help": "On a CUDA machine, choose the fast settings for what is left unset: packing (bfd) with "
            "padding-free batches and no activation checkpointing; and apply packed-sequence FlashAttention (attn "
            "'varlen', when the model uses sdpa/eager) and Liger's fused RMSNorm/SwiGLU/RoPE kernels when "
            "liger-kernel is installed (figures in bench/RESULTS.md). A packing or activation_checkpointing you set "
            "is kept. What was chosen is logged once."
        },
    )
    packing: bool | None = field(
        default=None,
        metadata={
            "help": "Pack examples into rows of max_length (packing_strategy) and train on padding-free batches. "
            "Unset: true under fast_gpu_defaults on a CUDA machine, else false.",
            "nargs": "?",
            "const": True,
        },
    )
    activation_checkpointing: bool | None = field(
        default=None,
        metadata={
            "help": "Recompute activations in the backward pass to save memory (slower). Unset: false under "
            "fast_gpu_defaults on a CUDA machine, else true (TRL's default).",
            "nargs": "?",
            "const": True,
        },
    )
    gradient_checkpointing: bool | None = field(
        default=None,
        metadata={
            "help": "Deprecated alias of activation_checkpointing (transformers 5.24).",
            "nargs": "?",
            "const": True,
        },
    )
    logging_nan_inf_filter: bool = field(
        default=False,
        metadata={
            "help": "Trainer's filter of NaN/inf losses out of the logged loss. Off by default: it reads the loss on "
            "the host at every micro-batch (a GPU sync), and TrajectorySFTTrainer instead stops training with an "
            "error naming the first step whose loss was not finite (checked when logging)."
        },
    )
    ddp_find_unused_parameters: bool | None = field(
        default=None,
        metadata={
            "help": "DDP's find_unused_parameters. Unset: false (every parameter of a causal LM takes part in the "
            "loss, so the search each step is wasted); set true for a model with parameters outside the loss."
        },
    )
    ddp_broadcast_buffers: bool | None = field(
        default=None,
        metadata={
            "help": "DDP's broadcast_buffers. Unset: false (a causal LM's buffers, such as rotary frequencies, are the "
            "same constants on every process, so broadcasting them before every forward pass is wasted)."
        },
    )

    def __post_init__(self) -> None:
        for spec in fields(self):  # NaN/inf weights, thresholds or rates would silently train a NaN model
            value = getattr(self, spec.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{spec.name} must be a finite number; got {value}.")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}.")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {self.layout!r}.")
        if self.bc_weight < 0 or self.world_model_weight < 0:
            raise ValueError(
                f"bc_weight and world_model_weight must be >= 0; got {self.bc_weight} and {self.world_model_weight}."
            )
        if self.mode == "combined" and self.bc_weight == 0 and self.world_model_weight == 0:
            raise ValueError("In combined mode at least one of bc_weight and world_model_weight must be > 0.")
        if self.collect_every < 0:
            raise ValueError(f"collect_every must be >= 0 (0 disables online collection); got {self.collect_every}.")
        if self.max_trajectories < 1:
            raise ValueError(f"max_trajectories must be >= 1; got {self.max_trajectories}.")
        if self.collect_episodes < 1:
            raise ValueError(f"collect_episodes must be >= 1; got {self.collect_episodes}.")
        if self.collect_policy not in COLLECT_POLICIES:
            raise ValueError(
                f"collect_policy must be one of {', '.join(COLLECT_POLICIES)}; got {self.collect_policy!r}."
            )
        if not 0.0 <= self.collect_expert_fraction <= 1.0:
            raise ValueError(f"collect_expert_fraction must be in [0, 1]; got {self.collect_expert_fraction}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}.")
        if self.schedule == "sequential" and self.mode != "combined":
            raise ValueError("schedule='sequential' trains both objectives in turn: set mode='combined'.")
        if not 0.0 < self.world_model_phase_fraction < 1.0:
            raise ValueError(f"world_model_phase_fraction must be in (0, 1); got {self.world_model_phase_fraction}.")
        if self.collect_every > 0 and self.max_steps <= 0:
            raise ValueError(
                "Online collection (collect_every > 0) needs max_steps > 0: the data grows while training."
            )
        if self.eval_max_new_tokens is None:
            self.eval_max_new_tokens = self.collect_max_new_tokens
        if self.eval_max_new_tokens < 1:
            raise ValueError(f"eval_max_new_tokens must be >= 1; got {self.eval_max_new_tokens}.")
        resolve_activation_checkpointing(self)
        self._choose_unset_defaults()
        if self.bf16 is None and not self.fp16:
            import torch

            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) and not self.use_cpu
        super().__post_init__()

    def _choose_unset_defaults(self) -> None:
        """Fill the speed settings left ``None``; a value the user set is never changed. Logs the choice once."""
        fast = self.fast_gpu_defaults and not self.use_cpu and _cuda_available()
        chosen = {}
        if self.packing is None:
            self.packing = chosen["packing"] = fast
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = chosen["activation_checkpointing"] = not fast
        chosen.update(choose_ddp_defaults(self))
        _log_once(
            "TrajectorySFTConfig chose "
            + ", ".join(f"{name}={value}" for name, value in chosen.items())
            + f" ({'fast_gpu_defaults on a CUDA machine' if fast else 'no fast GPU defaults'}); set them to override."
        )

    def objective_weights(self, step: int = 0, max_steps: int = 0) -> tuple[float, float]:
        """``(action weight, observation weight)`` of the loss at optimizer step ``step`` of ``max_steps``."""
        if self.schedule == "sequential":
            return (0.0, 1.0) if step < self.world_model_phase_fraction * max_steps else (1.0, 0.0)
        if self.mode == "behavioral_cloning":
            return 1.0, 0.0
        if self.mode == "world_model":
            return 0.0, 1.0
        return self.bc_weight, self.world_model_weight


_LOGGED: set[str] = set()


def checkpointing_alias_field() -> Any:
    """The ``gradient_checkpointing`` field of a TRL config whose default (True, under transformers' deprecated name)
    moves to ``resolve_activation_checkpointing(config, default=True)``: unset here, so that a value is the user's."""
    help_ = "Deprecated alias of activation_checkpointing (transformers 5.24); with neither set, checkpointing is on."
    return field(default=None, metadata={"help": help_, "nargs": "?", "const": True})


def choose_ddp_defaults(config: Any) -> dict[str, bool]:
    """DDP settings left ``None`` become false: ``find_unused_parameters`` (every parameter of a causal LM takes part in
    the loss, so the search that transformers turns on whenever activation checkpointing is off is wasted each step;
    a parameter outside the loss then fails loudly in DDP) and ``broadcast_buffers`` (a causal LM's buffers, such as
    rotary frequencies, are the same on every process). A value the user set is kept. Returns what was chosen."""
    chosen = {}
    for name in ("ddp_find_unused_parameters", "ddp_broadcast_buffers"):
        if getattr(config, name) is None:
            setattr(config, name, False)
            chosen[name] = False
    return chosen


def resolve_activation_checkpointing(config: Any, default: bool | None = None) -> None:
    """Call before ``TrainingArguments.__post_init__``. transformers 5.24 renamed ``gradient_checkpointing`` to
    ``activation_checkpointing`` and drops the old name without a word whenever the new one is set (a recipe's
    defaults set it): a different value under the old name is refused here instead. With neither set, ``default``
    (when not None) is used."""
    old, new = config.gradient_checkpointing, config.activation_checkpointing
    if old is not None and new is not None and bool(old) != bool(new):
        raise ValueError(
            f"gradient_checkpointing={old} and activation_checkpointing={new} disagree (the second may be a recipe "
            "default). gradient_checkpointing is transformers' deprecated name, ignored when activation_checkpointing "
            f"is set: set activation_checkpointing instead (--activation_checkpointing {str(bool(old)).lower()})."
        )
    if old is None and new is None and default is not None:
        config.activation_checkpointing = default


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        logger.info(message)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
