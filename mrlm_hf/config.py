"""``TrajectorySFTConfig``: TRL's ``SFTConfig`` plus what trajectory training needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from trl import SFTConfig

from mrlm_hf.tokenize import LAYOUTS, MODES

COLLECT_POLICIES = ("model", "expert", "mix")
SCHEDULES = ("weighted", "sequential")


@dataclass
class TrajectorySFTConfig(SFTConfig):
    """Configuration of :class:`~mrlm_hf.trainer.TrajectorySFTTrainer`.

    Every ``SFTConfig`` field keeps its meaning; the fields below are added. On a machine without CUDA, ``bf16``
    defaults to ``False`` (TRL's ``True`` would raise there)."""

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
    collect_every: int = field(
        default=0,
        metadata={
            "help": "Collect new trajectories every N optimizer steps during training (0: offline, no collection)."
        },
    )
    max_trajectories: int = field(
        default=1000,
        metadata={
            "help": "Most trajectories kept in the training data during online collection (oldest dropped first)."
        },
    )
    collect_episodes: int = field(default=32, metadata={"help": "Episodes collected at each online collection."})
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
        default=64,
        metadata={"help": "Token budget per action when the model collects or is evaluated on environments."},
    )
    collect_temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature of the model during online collection."}
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
    fast_gpu_defaults: bool = field(
        default=True,
        metadata={
            "help": "On a CUDA machine, use the measured fast settings: packing (bfd) with padding-free batches, "
            "packed-sequence FlashAttention (attn 'varlen', when the model uses sdpa/eager), Liger's fused RMSNorm/"
            "SwiGLU/RoPE kernels when liger-kernel is installed, and gradient_checkpointing=False (see "
            "bench/RESULTS.md). These override packing and gradient_checkpointing; set false to choose them yourself "
            "(e.g. gradient checkpointing for a model whose activations do not fit)."
        },
    )
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
        if self.fast_gpu_defaults and not self.use_cpu and _cuda_available():
            self.gradient_checkpointing = False
            self.packing = True
        if self.bf16 is None and not self.fp16:
            import torch

            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) and not self.use_cpu
        super().__post_init__()

    def objective_weights(self, step: int = 0, max_steps: int = 0) -> tuple[float, float]:
        """``(action weight, observation weight)`` of the loss at optimizer step ``step`` of ``max_steps``."""
        if self.schedule == "sequential":
            return (0.0, 1.0) if step < self.world_model_phase_fraction * max_steps else (1.0, 0.0)
        if self.mode == "behavioral_cloning":
            return 1.0, 0.0
        if self.mode == "world_model":
            return 0.0, 1.0
        return self.bc_weight, self.world_model_weight


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
