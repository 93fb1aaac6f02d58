"""A lean batched decoder for rollouts: a static KV cache and one compiled decoding step.

``transformers``' ``generate`` synchronises with the host at every step (stopping criteria) and runs its logits
processors eagerly, so a batch of 256 short sequences spends most of its time waiting on Python. Here the whole
decoding step (forward pass and sampling) is one function compiled with CUDA graphs
(``torch.compile(mode="reduce-overhead")``), batches are padded to a fixed size so the graph is reused, and the host
looks at the generated tokens only every ``check_every`` steps. Sampling is ``argmax(logits / T + Gumbel noise)``,
which draws from ``softmax(logits / T)`` exactly like multinomial sampling; greedy decoding is the plain argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class StaticDecoder:
    """Generate continuations of token-id prompts with a preallocated cache of ``max_cache_len`` positions."""

    def __init__(self, model: Any, batch_size: int, max_cache_len: int, compile: bool | None = None) -> None:
        from transformers import StaticCache

        self.model, self.batch_size, self.max_cache_len = model, batch_size, max_cache_len
        self.device = next(model.parameters()).device
        self.cache = StaticCache(config=model.config, max_cache_len=max_cache_len)
        compile = self.device.type == "cuda" if compile is None else compile
        self._step = torch.compile(self._decode, mode="reduce-overhead", dynamic=False) if compile else self._decode

    def _decode(self, tokens, position_ids, cache_position, attention_mask, temperature: float, sample: bool):
        logits = (
            self.model(
                input_ids=tokens,
                position_ids=position_ids,
                cache_position=cache_position,
                attention_mask=attention_mask,
                past_key_values=self.cache,
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        return _pick(logits, temperature, sample)

    @torch.no_grad()
    def generate(
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
        """New tokens of each prompt (at most ``batch_size`` prompts), each cut after its first end token."""
        if not prompts:
            return []
        if len(prompts) > self.batch_size:
            raise ValueError(f"{len(prompts)} prompts for a decoder of batch size {self.batch_size}.")
        width = max(len(p) for p in prompts)
        if width + max_new_tokens > self.max_cache_len:
            raise ValueError(
                f"Prompt ({width}) + new tokens ({max_new_tokens}) exceed max_cache_len {self.max_cache_len}."
            )
        rows = list(prompts) + [[pad_token_id]] * (self.batch_size - len(prompts))  # fixed shapes: one graph
        lengths = torch.tensor([len(p) for p in rows], device=self.device)
        input_ids = torch.full((self.batch_size, width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((self.batch_size, self.max_cache_len), dtype=torch.long)
        for i, p in enumerate(rows):
            input_ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) : width] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (torch.arange(width, device=self.device) - (width - lengths)[:, None]).clamp(min=0)

        self.cache.reset()
        logits = (
            self.model(
                input_ids=input_ids,
                position_ids=positions,
                cache_position=torch.arange(width, device=self.device),
                attention_mask=mask,
                past_key_values=self.cache,
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        token = _pick(logits, temperature, do_sample)
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
