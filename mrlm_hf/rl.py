"""Reinforcement learning on mrlm_hf environments with TRL's ``GRPOTrainer`` (multi-turn) and ``RLOOTrainer``.

One GRPO *episode* is a whole interaction: the policy acts, the environment answers, until the episode ends, the
environment's ``max_turns`` or the token budget ``max_completion_length``. The train dataset has one row per
environment seed (``env_prompt_dataset``); TRL's sampler repeats each row ``num_generations`` times, so a group of
episodes shares one task and advantages are group-relative on the episode return (``episode_return_reward``).

TRL's ``rollout_func`` hook takes the episode as token ids: ``prompt_ids`` (system prompt, first observation and the
assistant header), ``completion_ids`` (every action and every later observation, in order) and ``env_mask`` (1 on the
policy's own tokens, 0 on observation tokens and template markup), so the loss is only on what the policy sampled.
No text is ever re-tokenized on the policy's side: the sampled ids are kept as they are, and an environment turn is
appended as the ids of the template's *delta* (the text the chat template adds after the action: end-of-turn markup,
the observation, the next assistant header). Generation and training therefore see the same ids.

``MultiTurnRollout`` is the rollout function; ``EnvGRPOTrainer`` is a minimal ``GRPOTrainer`` subclass that gives it
the dataset rows (TRL passes only the prompts, and the environment seed lives in the row) and adds an optional
behavioral-cloning regulariser (``sft_weight``). ``EnvReward`` scores single-turn completions by stepping a fresh
environment, for ``RLOOTrainer`` (which has no rollout hook) or a plain ``GRPOTrainer``.

Generation servers: an OpenAI-compatible server (``OpenAIPolicy``) answers with text, not the ids it sampled, and
never sees the updated weights, so it cannot drive on-policy training here; it stays the tool for collection and
evaluation. Users with vLLM train single-turn tasks with TRL's own integration (``use_vllm=True``, ``trl vllm-serve``,
which syncs weights and returns ids and logprobs) and ``EnvReward``; multi-turn rollouts run in process.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

from mrlm_hf.attention import packed_sequences, use_varlen_attention, varlen_available
from mrlm_hf.callbacks import NonFiniteGradientGuard, RecordsMetrics
from mrlm_hf.chat import Message, render_generation_prompt, trajectory_messages
from mrlm_hf.config import checkpointing_alias_field, choose_ddp_defaults, resolve_activation_checkpointing
from mrlm_hf.envs import TextEnv, make_env
from mrlm_hf.policies import TransformersPolicy, _cut_at, end_of_turn_token_ids
from mrlm_hf.rollout import map_envs
from mrlm_hf.tokenize import TemplateRewritesContent, locate_contents

# A generation backend: token-id contexts, a token budget and the matching environments in, sampled continuation ids
# out (each cut after its first end-of-turn token). The trainer's is ``TransformersPolicy.generate_tokens``; the
# environments are there for scripted policies (tests, experts), as in the ``Policy`` protocol.
GenerateFn = Callable[[list[list[int]], int, list[TextEnv]], list[list[int]]]


# --------------------------------------------------------------------------- environments
def _env_key(row: dict[str, Any]) -> tuple[str, str]:
    kwargs = row.get("env_kwargs") or "{}"
    if isinstance(kwargs, dict):
        kwargs = json.dumps(kwargs, sort_keys=True)
    return row["env_name"], kwargs


class _EnvPool:
    """Reusable environment instances per ``(env_name, env_kwargs)`` (``reset`` starts each episode afresh)."""

    def __init__(self) -> None:
        self.free: dict[tuple[str, str], list[TextEnv]] = {}

    def take(self, rows: Sequence[dict[str, Any]]) -> list[TextEnv]:
        cursor: dict[tuple[str, str], int] = {}
        envs = []
        for row in rows:
            key = _env_key(row)
            pool = self.free.setdefault(key, [])
            index = cursor.get(key, 0)
            if index == len(pool):
                pool.append(make_env(key[0], **json.loads(key[1])))
            cursor[key] = index + 1
            envs.append(pool[index])
        return envs


def env_prompt_dataset(
    env_name: str, num_prompts: int, *, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> Dataset:
    """One row per environment seed ``seed .. seed + num_prompts - 1``: the columns a GRPO/RLOO run needs.

    ``prompt`` is the first observation as chat messages (system prompt included): TRL logs it, RLOO and a plain
    ``GRPOTrainer`` generate from it. ``seed``, ``env_name`` and ``env_kwargs`` (JSON) rebuild the episode."""
    kwargs = dict(env_kwargs or {})
    env = make_env(env_name, **kwargs)
    rows = []
    for s in range(seed, seed + num_prompts):
        observation, _ = env.reset(seed=s)
        rows.append(
            {
                "prompt": trajectory_messages(env.system_prompt, [observation], []),
                "seed": s,
                "env_name": env_name,
                "env_kwargs": json.dumps(kwargs, sort_keys=True, default=str),
            }
        )
    return Dataset.from_list(rows)


def _check_rows(rows: Sequence[dict[str, Any]]) -> None:
    for i, row in enumerate(rows):
        for column in ("seed", "env_name"):
            if row.get(column) is None:
                raise ValueError(
                    f"Row {i} of the RL dataset has no {column!r}: build the dataset with "
                    "mrlm_hf.rl.env_prompt_dataset (columns prompt, seed, env_name, env_kwargs)."
                )


# --------------------------------------------------------------------------- rewards
def episode_return_reward(completions: list[Any], episode_return: list[float], **kwargs: Any) -> list[float]:
    """GRPO reward: the episode return that ``MultiTurnRollout`` forwards (the sum of the environment's rewards)."""
    return [float(r) for r in episode_return]


def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion if m.get("role") == "assistant")  # conversational: messages


class EnvReward:
    """Single-turn environment reward: reset a fresh environment at the row's seed, step it once with the completion
    (cut at the environment's stop strings, as a policy's action is) and return that step's reward.

    For ``RLOOTrainer`` (no rollout hook in TRL 1.16) or a plain ``GRPOTrainer``; the dataset needs the columns of
    ``env_prompt_dataset``. Steps run concurrently (``map_envs``)."""

    __name__ = "env_reward"  # TRL names the reward metric after the function

    def __init__(self) -> None:
        self.pool = _EnvPool()

    def __call__(
        self, prompts: list[Any], completions: list[Any], seed: list[int], env_name: list[str], **kwargs: Any
    ) -> list[float]:
        env_kwargs = kwargs.get("env_kwargs") or ["{}"] * len(seed)
        rows = [{"seed": s, "env_name": n, "env_kwargs": k} for s, n, k in zip(seed, env_name, env_kwargs)]
        _check_rows(rows)
        envs = self.pool.take(rows)

        def play(env: TextEnv, row: dict[str, Any], completion: Any) -> float:
            env.reset(seed=int(row["seed"]))
            action = _cut_at(_completion_text(completion), tuple(env.stop_strings))
            return env.step(action)[1]

        return map_envs(play, envs, rows, completions)


# --------------------------------------------------------------------------- multi-turn rollouts as token ids
def environment_turn_ids(
    tokenizer: Any, messages: list[Message], generated_end: str = "", previous_prompt: str | None = None
) -> list[int]:
    """Ids of what the chat template adds after the last action of ``messages`` (which end with
    ``assistant: a_k, user: o_{k+1}``): the rest of the action's end-of-turn markup, the observation turn and the next
    assistant header. ``generated_end`` is the text of the end-of-turn token the policy already sampled (skipped).

    Only this delta is tokenized; the action's sampled ids are never re-tokenized. ``previous_prompt`` (the rendered
    generation prompt the action was sampled after) makes it cheaper; see ``environment_turn``."""
    return environment_turn(tokenizer, messages, generated_end, previous_prompt)[0]


def environment_turn(
    tokenizer: Any, messages: list[Message], generated_end: str = "", previous_prompt: str | None = None
) -> tuple[list[int], str]:
    """``environment_turn_ids`` and the new generation prompt's text (the next turn's ``previous_prompt``).

    With ``previous_prompt``, one rendering suffices when the new prompt starts with ``previous_prompt`` followed by
    the action verbatim: the episode's text so far is then a prefix of the template's rendering, and the delta is the
    rest of it. Otherwise, or without it, the action is located in the rendering by ``locate_contents`` (three
    renderings, and a clear error when the template rewrites earlier turns)."""
    if len(messages) < 2 or messages[-2]["role"] != "assistant":
        raise ValueError("environment_turn_ids needs messages that end with an assistant turn and an observation.")
    prompt = render_generation_prompt(tokenizer, messages)
    action = messages[-2]["content"]
    if previous_prompt is not None and prompt.startswith(previous_prompt + action):
        end = len(previous_prompt) + len(action)
    else:
        exact = [False] * len(messages)
        exact[-2] = True
        text, spans = locate_contents(tokenizer, messages, exact)
        end = spans[-2][1]
        if prompt[:end] != text[:end]:
            raise TemplateRewritesContent(
                "The chat template renders earlier turns differently once a generation prompt is added, so an "
                "episode cannot be one growing token sequence."
            )
    delta = prompt[end:]
    if generated_end and delta.startswith(generated_end):
        delta = delta[len(generated_end) :]
    return tokenizer(delta, add_special_tokens=False)["input_ids"], prompt


def _cut_ids_at_stop(tokenizer: Any, ids: list[int], stop_strings: Sequence[str]) -> list[int] | None:
    """The shortest prefix of ``ids`` whose text contains a stop string, or ``None`` if none occurs.

    The token that completes the stop string is kept whole (it may carry a few characters after the stop)."""
    stops = [s for s in stop_strings if s]
    if not stops:
        return None

    def hit(k: int) -> bool:
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        return any(s in text for s in stops)

    if not hit(len(ids)):
        return None
    low, high = 1, len(ids)  # containment grows with the prefix: binary search the first hit
    while low < high:
        middle = (low + high) // 2
        if hit(middle):
            high = middle
        else:
            low = middle + 1
    return ids[:low]


@dataclass
class Episode:
    """One multi-turn episode as token ids and the environment's view of it."""

    env: TextEnv
    seed: int
    prompt_ids: list[int]
    observations: list[str]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    action_ids: list[list[int]] = field(default_factory=list)  # the sampled ids of each turn, as generated
    prompt_text: str | None = None  # the rendered generation prompt the next action is sampled after
    rewards: list[float] = field(default_factory=list)
    done: bool = False
    success: bool = False
    truncated_by_length: bool = False


class MultiTurnRollout:
    """TRL ``rollout_func`` that plays whole episodes of mrlm_hf environments (see the module docstring).

    Per turn, every running episode's context (prompt + completion so far) is generated in one batch
    (``generate``, by default the trainer's model through ``TransformersPolicy.generate_tokens``: ``decoder="static"``
    is the fast GPU path); each action is cut at the environment's stop strings (the ids up to the token that
    completes the stop, then the template's end-of-turn token, which is trained so the model learns to stop there),
    the environments step concurrently, and each observation is appended as the template's delta ids (masked).

    Budget: ``max_completion_length`` caps the whole completion (actions and observations) and ``max_turn_tokens``
    each action. An action that runs out of budget is still sent to the environment (as a policy's truncated action
    would be) and ends the episode; an observation that does not fit ends it before being appended. Such an episode
    is *cut by length* (``truncated_by_length``, logged as ``rollout/truncated_by_length``): its return is the partial
    sum of its rewards, which with a per-step cost scores a failure cut early *above* one played to the end (and GRPO
    then rewards whatever made the episode's text longer). Give ``max_completion_length`` room for ``max_turns``
    turns, or set ``truncated_return`` (the return such an episode gets instead, e.g. the environment's failure
    return).

    Logprobs: ``None`` is returned. Without vLLM, TRL reads sampling logprobs only for vLLM importance-sampling
    correction and the off-policy mask (``off_policy_mask_threshold``); the sampling model *is* the trained model
    here, and TRL computes ``old_per_token_logps`` itself with a forward pass whenever updates can be off-policy
    (``num_iterations > 1`` or generation not aligned with optimizer steps)."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_completion_length: int = 256,
        max_turn_tokens: int | None = None,
        generate: GenerateFn | None = None,
        decoder: str = "generate",
        batch_size: int = 64,
        max_cache_len: int = 2048,
        truncated_return: float | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.truncated_return = truncated_return
        self._warned = False
        self.max_completion_length = max_completion_length
        self.max_turn_tokens = max_turn_tokens
        self.generate = generate
        self.decoder, self.batch_size, self.max_cache_len = decoder, batch_size, max_cache_len
        self.end_ids = end_of_turn_token_ids(tokenizer)
        if not self.end_ids:
            raise ValueError("The tokenizer has no EOS token and its template no end-of-turn token: set eos_token.")
        self.turn_end_id = self.end_ids[-1]  # the template's own end-of-turn token (EOS if it has none)
        self.pool = _EnvPool()
        self._policy: TransformersPolicy | None = None

    # The TRL hook -------------------------------------------------------------------------------------------
    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list]:
        rows = getattr(trainer, "_rollout_rows", None)
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError(
                "MultiTurnRollout needs the dataset rows (environment seeds) of the batch: use it through "
                "mrlm_hf.rl.EnvGRPOTrainer, which passes them (TRL's rollout_func receives only the prompts)."
            )
        if self.generate is not None:  # a given backend (a scripted policy in tests)
            return self._log(trainer, self.rollout(rows, self.generate))
        from trl.models import unwrap_model_for_generation

        args = trainer.args
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=args.ds3_gather_for_generation
        ) as model:
            if self._policy is None:
                self._policy = TransformersPolicy(
                    model,
                    self.tokenizer,
                    max_new_tokens=self.max_completion_length,
                    temperature=args.temperature,
                    top_p=args.top_p,
                    top_k=args.top_k or 0,
                    batch_size=self.batch_size,
                    decoder=self.decoder,
                    max_cache_len=self.max_cache_len,
                )
            self._policy.model = model
            policy = self._policy

            def generate(contexts: list[list[int]], max_new_tokens: int, envs: list[TextEnv]) -> list[list[int]]:
                return policy.generate_tokens(contexts, max_new_tokens=max_new_tokens)

            return self._log(trainer, self.rollout(rows, generate))

    def _log(self, trainer: Any, out: dict[str, list]) -> dict[str, list]:
        """Record the fraction of episodes cut by length (all processes) in the trainer's metrics; warn once."""
        cut = torch.tensor(out["truncated_by_length"], dtype=torch.float32, device=trainer.accelerator.device)
        fraction = trainer.accelerator.gather(cut).mean().item() if cut.numel() else 0.0
        trainer._metrics["train" if trainer.model.training else "eval"]["rollout/truncated_by_length"].append(fraction)
        if fraction > 0 and self.truncated_return is None and not self._warned:
            self._warned = True
            warnings.warn(
                f"{fraction:.1%} of the episodes were cut by max_completion_length={self.max_completion_length} "
                "before the environment ended them; their return is a partial sum (with a per-step cost, above a "
                "failure played to the end). Raise max_completion_length or set truncated_return.",
                stacklevel=2,
            )
        return out

    # The episode loop ------------------------------------------------------------------------------------------
    def rollout(self, rows: Sequence[dict[str, Any]], generate: GenerateFn | None = None) -> dict[str, list]:
        """Play one episode per row (its ``seed``, ``env_name``, ``env_kwargs``) and return TRL's rollout fields
        plus ``episode_return``, ``success``, ``num_turns``, ``truncated_by_length`` (forwarded to the reward
        functions)."""
        generate = generate or self.generate
        if generate is None:
            raise ValueError("MultiTurnRollout.rollout needs a generate function.")
        _check_rows(rows)
        envs = self.pool.take(rows)
        resets = map_envs(lambda env, row: env.reset(seed=int(row["seed"])), envs, rows)
        episodes = []
        for env, row, (observation, _) in zip(envs, rows, resets):
            messages = trajectory_messages(env.system_prompt, [observation], [])
            prompt = render_generation_prompt(self.tokenizer, messages)
            prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            episodes.append(Episode(env, int(row["seed"]), prompt_ids, [observation], prompt_text=prompt))

        while running := [e for e in episodes if not e.done]:
            budgets = [self._action_budget(e) for e in running]
            contexts = [e.prompt_ids + e.completion_ids for e in running]
            sampled = generate(contexts, max(budgets), [e.env for e in running])
            actions = [self._take_action(e, ids[:budget]) for e, ids, budget in zip(running, sampled, budgets)]
            results = map_envs(lambda env, action: env.step(action), [e.env for e in running], actions)
            for episode, (observation, reward, terminated, truncated, info) in zip(running, results):
                episode.rewards.append(float(reward))
                episode.observations.append(observation)
                episode.success = bool(info.get("success", False))
                if terminated or truncated or self._action_budget(episode) <= 0:
                    episode.done = True
                    episode.truncated_by_length = not (terminated or truncated)
                    continue
                self._append_observation(episode)

        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": None,  # see the class docstring
            "env_mask": [e.env_mask for e in episodes],
            "episode_return": [self._return(e) for e in episodes],
            "success": [e.success for e in episodes],
            "num_turns": [len(e.actions) for e in episodes],
            "truncated_by_length": [e.truncated_by_length for e in episodes],
        }

    def _return(self, episode: Episode) -> float:
        if episode.truncated_by_length and self.truncated_return is not None:
            return float(self.truncated_return)
        return float(sum(episode.rewards))

    def _action_budget(self, episode: Episode) -> int:
        left = self.max_completion_length - len(episode.completion_ids)
        return min(left, self.max_turn_tokens) if self.max_turn_tokens else left

    def _take_action(self, episode: Episode, ids: list[int]) -> str:
        """Append the sampled ids of one action (cut at a stop string) and return the action text the env gets."""
        episode.action_ids.append(list(ids))
        cut = _cut_ids_at_stop(self.tokenizer, ids, episode.env.stop_strings)
        kept = list(cut) if cut is not None else list(ids)
        if cut is not None and len(kept) < self._action_budget(episode):
            kept.append(self.turn_end_id)  # the action ends here: close the turn as the template does
        body = kept[:-1] if kept and kept[-1] in self.end_ids else kept
        action = self.tokenizer.decode(body, skip_special_tokens=True)
        episode.completion_ids.extend(kept)
        episode.env_mask.extend([1] * len(kept))
        episode.actions.append(action)
        return action

    def _append_observation(self, episode: Episode) -> None:
        messages = trajectory_messages(episode.env.system_prompt, episode.observations, episode.actions)
        last = episode.completion_ids[-1] if episode.completion_ids else None
        generated_end = self.tokenizer.decode([last]) if last in self.end_ids else ""
        delta, episode.prompt_text = environment_turn(self.tokenizer, messages, generated_end, episode.prompt_text)
        if len(episode.completion_ids) + len(delta) >= self.max_completion_length:
            episode.done = episode.truncated_by_length = True  # no room for the observation and an action
            return
        episode.completion_ids.extend(delta)
        episode.env_mask.extend([0] * len(delta))


def padding_free_field() -> Any:
    """The ``padding_free`` field of the RL configs (``PackedLogProbs``)."""
    return field(
        default=None,
        metadata={
            "help": "Score each training batch with its sequences packed in one row, without padding (PyTorch's "
            "packed FlashAttention kernel): no compute on padding, and no masked SDPA, whose memory-efficient "
            "backward gave NaN gradients on bf16 GRPO batches (bench/RESULTS.md). None: where that kernel runs (a "
            "CUDA GPU, an SDPA model); True: also elsewhere, through a block-diagonal mask (quadratic in the "
            "batch's tokens: for tests); False: TRL's padded batches."
        },
    )


# --------------------------------------------------------------------------- the trainer
@dataclass
class EnvGRPOConfig(GRPOConfig):
    """``GRPOConfig`` plus multi-turn rollouts on mrlm_hf environments, the behavioral-cloning regulariser, padding-free
    scoring of training batches (``padding_free``) and the non-finite-gradient guard."""

    rollout_decoder: str = field(
        default="generate",
        metadata={
            "help": "TransformersPolicy decoder for rollouts: 'generate' (transformers) or 'static' (mrlm_hf's "
            "CUDA-graph decoder, the fast GPU path).",
            "choices": ["generate", "static"],
        },
    )
    rollout_batch_size: int = field(default=64, metadata={"help": "Sequences per generation batch in rollouts."})
    rollout_max_cache_len: int = field(
        default=2048, metadata={"help": "Static decoder: cache positions (prompt + completion must fit)."}
    )
    max_turn_tokens: int | None = field(
        default=None, metadata={"help": "Cap on one action's tokens (default: what is left of max_completion_length)."}
    )
    truncated_return: float | None = field(
        default=None,
        metadata={
            "help": "Return of an episode that max_completion_length cut before the environment ended it (default: "
            "the partial sum of its rewards, which a per-step cost makes higher than a failure played to the end)."
        },
    )
    padding_free: bool | None = padding_free_field()
    max_nonfinite_grad_steps: int = field(
        default=10,
        metadata={
            "help": "Skip an optimizer step whose gradient is not finite (counted in the logged "
            "nonfinite_grad_steps) and stop after more than this many in a row; 0: no check (TRL's behaviour: a NaN "
            "gradient reaches the weights)."
        },
    )
    save_nonfinite_batch: bool = field(
        default=False,
        metadata={
            "help": "At the first step skipped for a non-finite gradient, save its micro-batch (inputs_rank<r>.pt) "
            "and the weights that produced it (save_pretrained) in output_dir/nonfinite_step<N>/, to reproduce it."
        },
    )
    sft_weight: float = field(
        default=0.0,
        metadata={"help": "Add sft_weight * behavioral-cloning NLL on the demonstration dataset to the GRPO loss."},
    )
    sft_batch_size: int | None = field(
        default=None, metadata={"help": "Demonstrations per micro-batch (default: per_device_train_batch_size)."}
    )
    sft_max_length: int | None = field(default=1024, metadata={"help": "Demonstration tokenization max_length."})

    gradient_checkpointing: bool | None = checkpointing_alias_field()

    def __post_init__(self) -> None:
        _machine_defaults(self)
        resolve_activation_checkpointing(self, default=True)  # TRL's default, on
        if self.sft_weight < 0:
            raise ValueError(f"sft_weight must be >= 0; got {self.sft_weight}.")
        if self.max_nonfinite_grad_steps < 0:
            raise ValueError(f"max_nonfinite_grad_steps must be >= 0; got {self.max_nonfinite_grad_steps}.")
        super().__post_init__()


@dataclass
class EnvRLOOConfig(RLOOConfig):
    """``RLOOConfig`` whose ``bf16`` default follows the machine (TRL's default, True, raises on a CPU), and which scores
    training batches padding-free (``padding_free``, as ``EnvGRPOConfig``)."""

    padding_free: bool | None = padding_free_field()

    gradient_checkpointing: bool | None = checkpointing_alias_field()

    def __post_init__(self) -> None:
        _machine_defaults(self)
        resolve_activation_checkpointing(self, default=True)  # TRL's default, on
        super().__post_init__()


class PackedLogProbs:
    """Per-token log-probabilities of TRL's GRPO/RLOO batches computed with the sequences packed in one row.

    TRL scores a batch as padded rows (left-padded prompt, right-padded completion) under a padding mask. On a GPU
    that is SDPA's memory-efficient kernel, whose backward returned NaN gradients for whole generation batches of a
    bf16 GRPO run while eager attention and fp32 gave finite ones on the same saved batches (bench/RESULTS.md); and
    every padded position costs compute. Here each chunk of rows is packed back to back (``packed_sequences``),
    scored through TRL's fused LM head (``fused_lm_head=True``: log-probabilities and entropies, temperature
    applied) and put back in TRL's (rows, completion) layout, zero at padding. Position ids restart at 0 for each
    sequence, as in generation (TRL's padded pass counts the left padding; rotary attention sees the same relative
    positions either way). Falls back to TRL's path for inputs it does not handle: images, a MoE aux loss, rows
    whose real tokens are not one contiguous span."""

    def _packs(
        self, model: Any, attention_mask: torch.Tensor, logits_to_keep: int, extra: dict[str, Any]
    ) -> tuple[bool, bool]:
        """(pack this call, with the packed kernel)."""
        setting = getattr(self.args, "padding_free", None)
        if setting is False or any(value is not None for value in extra.values()):
            return False, False
        if not setting and not varlen_available():  # the default without the kernel: TRL's path, nothing to check
            return False, False
        mask = attention_mask.bool()
        starts = mask[:, 0].long() + (mask[:, 1:] & ~mask[:, :-1]).sum(1)  # spans of real tokens per row
        prompted = mask[:, : mask.size(1) - logits_to_keep].any(1)  # a completion token always has one before it
        if not bool(((starts <= 1) & prompted).all()):
            return False, False
        # The packed kernel needs the model on "varlen" in every pass (activation checkpointing recomputes the forward
        # in the backward), so an SDPA model is switched for good; its other calls still run SDPA.
        kernel = use_varlen_attention(self.accelerator.unwrap_model(model))
        return kernel or bool(setting), kernel

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **extra,
    ):
        pack, kernel = (False, False) if compute_aux_loss else self._packs(model, attention_mask, logits_to_keep, extra)
        if not pack:
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **extra,
            )
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            rows = slice(start, start + batch_size)
            lp, ent = self._packed_chunk(model, input_ids[rows], attention_mask[rows].bool(), logits_to_keep, kernel)
            logps.append(lp)
            entropies.append(ent)
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None  # entropy: asked of TRL's head

    def _packed_chunk(
        self, model: Any, input_ids: torch.Tensor, mask: torch.Tensor, logits_to_keep: int, kernel: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        tokens = input_ids[mask]  # row by row, each row's real tokens in order
        scored = mask.clone()
        scored[:, : mask.size(1) - logits_to_keep] = False  # completion tokens only, as TRL's labels
        labels = tokens.masked_fill(~scored[mask], -100)
        dtype = next(model.parameters()).dtype
        _, positions, attend = packed_sequences(mask.sum(1), kernel, dtype, input_ids.device)
        with self.accelerator.autocast():
            out = model(
                input_ids=tokens[None], position_ids=positions[None], labels=labels[None], fused_lm_head=True, **attend
            )
        # out.log_probs[0, i - 1] scores packed token i; a completion token's packed index is its rank in the mask
        index = (mask.flatten().cumsum(0) - 1).view(mask.shape)[:, -logits_to_keep:]
        completion = scored[:, -logits_to_keep:]
        previous = index[completion] - 1

        def unpack(values: torch.Tensor | None) -> torch.Tensor | None:
            if values is None:
                return None
            return values.new_zeros(completion.shape).masked_scatter(completion, values[0, previous])

        return unpack(out.log_probs), unpack(out.entropy)


class EnvRLOOTrainer(RecordsMetrics, PackedLogProbs, RLOOTrainer):
    """TRL's ``RLOOTrainer`` with ``record_metrics``, so that callbacks (held-out evaluation every N steps) log with
    it as they do with ``EnvGRPOTrainer``; single-turn (``EnvReward``): TRL 1.16's RLOO has no rollout hook."""


def _machine_defaults(config: Any) -> None:
    """``bf16=None`` means: on where CUDA supports it and ``use_cpu`` is off (as ``TrajectorySFTConfig`` does); and
    the DDP settings left unset are chosen as for SFT (``choose_ddp_defaults``)."""
    if config.bf16 is None and not config.fp16:
        config.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) and not config.use_cpu
    choose_ddp_defaults(config)


class EnvGRPOTrainer(RecordsMetrics, PackedLogProbs, GRPOTrainer):
    """``GRPOTrainer`` with multi-turn environment rollouts (``MultiTurnRollout``) and an optional BC regulariser.

    Why a subclass: TRL's ``rollout_func`` receives the prompts only, but an episode needs its row's environment
    seed, so ``_generate_and_score_completions`` records the rows first; and the GRPO objective has no hook for an
    extra loss term, so ``compute_loss`` adds ``sft_weight * NLL`` on demonstrations (``sft_dataset``: trajectories,
    tokenized with ``tokenize_trajectories(mode="behavioral_cloning")`` and batched with ``TrajectoryCollator``: the
    same exact action masks as ``TrajectorySFTTrainer``); and TRL's importance ratio is computed at untrained
    (environment) positions too, where it can overflow, so ``_compute_loss`` pins those log-probabilities; and
    ``NonFiniteGradientGuard`` skips a step whose gradient is still not finite. Everything else is TRL's."""

    def __init__(
        self,
        model: Any,
        args: EnvGRPOConfig,
        train_dataset: Dataset,
        processing_class: Any,
        *,
        reward_funcs: Any = None,
        sft_dataset: Dataset | None = None,
        rollout: MultiTurnRollout | None = None,
        **kwargs: Any,
    ) -> None:
        rollout = rollout or MultiTurnRollout(
            processing_class,
            max_completion_length=args.max_completion_length,
            max_turn_tokens=args.max_turn_tokens,
            decoder=args.rollout_decoder,
            batch_size=args.rollout_batch_size,
            max_cache_len=args.rollout_max_cache_len,
            truncated_return=args.truncated_return,
        )
        self.rollout = rollout
        self._rollout_rows: list[dict[str, Any]] | None = None
        self._trained_positions: torch.Tensor | None = None  # set while _compute_loss runs
        super().__init__(
            model=model,
            reward_funcs=reward_funcs or [episode_return_reward],
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            rollout_func=rollout,
            **kwargs,
        )
        self._last_inputs: dict[str, Any] | None = None  # kept for save_nonfinite_batch
        if args.max_nonfinite_grad_steps > 0:
            dump = self._save_nonfinite_batch if args.save_nonfinite_batch else None
            self.add_callback(NonFiniteGradientGuard(self, args.max_nonfinite_grad_steps, on_first_skip=dump))
        self.sft_weight = float(getattr(args, "sft_weight", 0.0))
        self._sft_batches = None
        if self.sft_weight > 0:
            if sft_dataset is None:
                raise ValueError("sft_weight > 0 needs sft_dataset (demonstration trajectories).")
            self._sft_batches = self._demonstration_batches(sft_dataset)

    def _demonstration_batches(self, sft_dataset: Dataset):
        from mrlm_hf.collator import TrajectoryCollator
        from mrlm_hf.tokenize import tokenize_trajectories

        tokenized, _ = tokenize_trajectories(
            sft_dataset, self.processing_class, mode="behavioral_cloning", max_length=self.args.sft_max_length
        )
        if len(tokenized) == 0:
            raise ValueError("The demonstration dataset has no trainable action within sft_max_length.")
        pad = self.processing_class.pad_token_id
        collator = TrajectoryCollator(pad_token_id=pad if pad is not None else self.processing_class.eos_token_id)
        generator = torch.Generator().manual_seed(self.args.seed + self.accelerator.process_index)
        loader = torch.utils.data.DataLoader(
            tokenized.with_format(None),
            batch_size=self.args.sft_batch_size or self.args.per_device_train_batch_size,
            shuffle=True,
            generator=generator,
            collate_fn=collator,
        )
        return itertools.chain.from_iterable(itertools.repeat(loader))

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._rollout_rows = inputs  # read by MultiTurnRollout: the rows carry the environment seeds
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._rollout_rows = None

    def _compute_loss(self, model, inputs):
        # TRL computes the ratio exp(logp - old_logp) at every completion position before masking. Environment tokens
        # are never trained, so their log-probabilities can drift by more than 88 nats between the generation-time
        # pass and a later update (seen on a GPU run, bench/RESULTS.md): exp overflows to inf there, and inf * 0 in the
        # backward turns every gradient into NaN. Pin both log-probabilities to 0 at untrained positions (a constant:
        # ratio 1, no gradient); trained positions are untouched.
        if "tool_mask" not in inputs:
            return super()._compute_loss(model, inputs)
        trained = (inputs["completion_mask"] * inputs["tool_mask"]).bool()
        if inputs.get("old_per_token_logps") is not None:
            inputs = {**inputs, "old_per_token_logps": inputs["old_per_token_logps"].masked_fill(~trained, 0.0)}
        self._trained_positions = trained
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._trained_positions = None

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        trained = self._trained_positions
        if trained is not None and trained.shape == logps.shape:
            logps = logps.masked_fill(~trained, 0.0)  # its backward gives 0 there, never inf * 0
        return logps, entropies, aux_loss

    def _save_nonfinite_batch(self, step: int) -> None:
        """The last micro-batch (one file per process) and the weights before the step, for an offline replay."""
        folder = Path(self.args.output_dir) / f"nonfinite_step{step}"
        folder.mkdir(parents=True, exist_ok=True)
        batch = {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in (self._last_inputs or {}).items()}
        torch.save(batch, folder / f"inputs_rank{self.accelerator.process_index}.pt")
        # Every process runs this (the guard's decision is shared): under FSDP the full weights are gathered from
        # every shard, a collective that one process alone would wait on forever.
        state_dict = self.accelerator.get_state_dict(self.model)
        if self.accelerator.is_main_process:
            self.accelerator.unwrap_model(self.model).save_pretrained(folder, state_dict=state_dict)
            self.processing_class.save_pretrained(folder)
        warnings.warn(f"Saved the batch and the weights of the first non-finite gradient in {folder}.", stacklevel=2)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.args.save_nonfinite_batch:
            self._last_inputs = inputs
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._sft_batches is None or not model.training:
            return loss
        batch = next(self._sft_batches)
        device = self.accelerator.device
        outputs = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device) if "attention_mask" in batch else None,
            labels=batch["labels"].to(device),
        )
        nll = outputs.loss  # mean over the trained action tokens (labels != -100)
        self._metrics["train"]["sft/nll"].append(self.accelerator.gather(nll.detach()).mean().item())
        # TRL divides its per-micro-batch loss by the accumulation steps; scale the extra term the same way.
        return loss + self.sft_weight * nll / self.current_gradient_accumulation_steps
