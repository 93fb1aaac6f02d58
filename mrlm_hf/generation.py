"""A lean batched decoder for rollouts: a static KV cache and one compiled decoding step.

``transformers``' ``generate`` synchronises with the host at every step (stopping criteria) and runs its logits
processors eagerly, so a batch of 256 short sequences spends most of its time waiting on Python; and its SDPA
attention copies a grouped-query KV cache once per query head at every step. Here attention reads the cache once
(``mrlm_hf.attention.grouped_query_decode``), the whole decoding step (forward pass and sampling) is one function
compiled with CUDA graphs (``torch.compile(mode="reduce-overhead")``), batches are padded to a fixed size so the graph
is reused, and the host looks at the generated tokens only every ``check_every`` steps. Sampling is ``argmax(logits / T + Gumbel noise)``,
which draws from ``softmax(logits / T)`` exactly like multinomial sampling; greedy decoding is the plain argmax.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import torch

from mrlm_hf.attention import decoding_attention

logger = logging.getLogger(__name__)


class StaticDecoder:
    """Generate continuations of token-id prompts with a preallocated cache of ``max_cache_len`` positions."""

    def __init__(
        self,
        model: Any,
        batch_size: int,
        max_cache_len: int,
        compile: bool | None = None,
        prefill_tokens: int = 16384,
    ) -> None:
        from transformers import StaticCache

        self.model, self.batch_size, self.max_cache_len = model, batch_size, max_cache_len
        self.prefill_tokens = prefill_tokens
        # transformers >= 5.24 names the cache argument ``cache`` (``past_key_values`` is deprecated there).
        forward = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self.device = next(model.parameters()).device
        self.cache = StaticCache(config=model.config, max_cache_len=max_cache_len)
        compile = self.device.type == "cuda" if compile is None else compile
        if compile and any(getattr(m.forward, "__module__", "").startswith("liger_kernel") for m in model.modules()):
            logger.warning(
                "This model carries Liger kernels (fast_gpu_defaults applies them for training): measured on an H200, "
                "they keep the compiled decoding step out of one CUDA graph and make the static decoder ~6x slower "
                "(bench/RESULTS.md). Decode with a model without them for speed."
            )
        self._step = torch.compile(self._decode, mode="reduce-overhead", dynamic=False) if compile else self._decode

    def _decode(self, tokens, position_ids, cache_position, attention_mask, temperature: float, sample: bool):
        logits = (
            self.model(
                input_ids=tokens,
                position_ids=position_ids,
                cache_position=cache_position,
                attention_mask=attention_mask,
                **{self._cache_arg: self.cache},
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        return _pick(logits, temperature, sample)

    def _prefill(self, prompts: Sequence[Sequence[int]], width: int, pad_token_id: int) -> torch.Tensor:
        """Fill the cache with the prompts, right-aligned at ``width``; returns the next-token logits (fp32).

        Prompts run shortest first in chunks of about ``prefill_tokens`` padded tokens, each chunk padded only to its
        own longest prompt, with logits for the last position only: one batch padded to the longest prompt computes
        up to twice the tokens and a full-vocabulary logit for every one of them."""
        from transformers import DynamicCache

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        chunks, chunk = [], []
        for i in order:
            if chunk and (len(chunk) + 1) * len(prompts[i]) > self.prefill_tokens:
                chunks.append(chunk)
                chunk = []
            chunk.append(i)
        chunks.append(chunk)
        n_layers = len(self.cache.layers)
        keys: list[torch.Tensor | None] = [None] * n_layers
        values: list[torch.Tensor | None] = [None] * n_layers
        logits: torch.Tensor | None = None
        for chunk in chunks:
            w = max(len(prompts[i]) for i in chunk)
            ids = torch.full((len(chunk), w), pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), w), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, w - len(prompts[i]) :] = torch.tensor(prompts[i])
                attention[row, w - len(prompts[i]) :] = 1
            ids, attention = ids.to(self.device), attention.to(self.device)
            output = self.model(
                input_ids=ids,
                attention_mask=attention,
                position_ids=(attention.cumsum(-1) - 1).clamp(min=0),
                **{self._cache_arg: DynamicCache()},
                use_cache=True,
                logits_to_keep=1,
            )
            rows = torch.tensor(chunk, device=self.device)
            if logits is None:
                logits = output.logits.new_zeros((self.batch_size, output.logits.shape[-1]), dtype=torch.float32)
            logits[rows] = output.logits[:, -1, :].float()
            for layer, cached in enumerate(output.past_key_values.layers):
                if keys[layer] is None:
                    shape = (self.batch_size, cached.keys.shape[1], width, cached.keys.shape[-1])
                    keys[layer] = cached.keys.new_zeros(shape)
                    values[layer] = cached.values.new_zeros((*shape[:-1], cached.values.shape[-1]))
                keys[layer][rows, :, width - w :] = cached.keys
                values[layer][rows, :, width - w :] = cached.values
        self.cache.reset()
        positions = {"cache_position": torch.arange(width, device=self.device)}
        for layer in range(n_layers):
            self.cache.update(keys[layer], values[layer], layer, positions)
        return logits

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, **kwargs: Any) -> list[list[int]]:
        """New tokens of each prompt (at most ``batch_size`` prompts), each cut after its first end token.

        Keyword arguments: ``do_sample``, ``temperature``, ``eos_token_ids``, ``pad_token_id``, ``check_every``."""
        with decoding_attention(self.model):
            return self._generate(prompts, max_new_tokens, **kwargs)

    @torch.no_grad()
    def _generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        *,
        do_sample: bool = True,
        temperature: float = 1.0,
        eos_token_ids: Sequence[int] = (),
        pad_token_id: int = 0,
        check_every: int = 16,
    ) -> list[list[int]]:
        if not prompts:
            return []
        if len(prompts) > self.batch_size:
            raise ValueError(f"{len(prompts)} prompts for a decoder of batch size {self.batch_size}.")
        width = max(len(p) for p in prompts)
        if width + max_new_tokens > self.max_cache_len:
            raise ValueError(
                f"Prompt ({width}) + new tokens ({max_new_tokens}) exceed max_cache_len {self.max_cache_len}."
            )
        lengths = torch.tensor([len(p) for p in prompts] + [1] * (self.batch_size - len(prompts)), device=self.device)
        mask = torch.zeros((self.batch_size, self.max_cache_len), dtype=torch.long)
        for i, p in enumerate(prompts):
            mask[i, width - len(p) : width] = 1
        mask[len(prompts) :, width - 1] = 1  # rows that pad the batch to its fixed size attend one empty slot
        mask = mask.to(self.device)
        logits = self._prefill(prompts, width, pad_token_id)
        token = _pick(logits, temperature, do_sample)
        token[len(prompts) :] = pad_token_id
        out = torch.empty((self.batch_size, max_new_tokens), dtype=torch.long, device=self.device)
        eos = torch.tensor(list(eos_token_ids) or [-1], device=self.device)
        finished = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        finished[len(prompts) :] = True
        steps = max_new_tokens
        for t in range(max_new_tokens):
            out[:, t] = token
            finished |= torch.isin(token, eos)
            if t == max_new_tokens - 1 or ((t + 1) % check_every == 0 and bool(finished.all())):
                steps = t + 1
                break
            mask[:, width + t] = 1
            token = self._step(
                token[:, None].clone(),
                (lengths + t)[:, None],
                torch.tensor([width + t], device=self.device),
                mask.clone(),
                temperature,
                do_sample,
            ).clone()
        stops = set(eos_token_ids)
        results = []
        for row in out[: len(prompts), :steps].tolist():
            cut = next((j + 1 for j, t in enumerate(row) if t in stops), len(row))
            results.append(row[:cut])
        return results


def _pick(logits: torch.Tensor, temperature: float, sample: bool) -> torch.Tensor:
    if not sample:
        return logits.argmax(-1)
    noise = torch.rand_like(logits).clamp_(min=1e-20)
    return (logits / temperature - torch.log(-torch.log(noise))).argmax(-1)
