"""A lean batched decoder for rollouts: a static KV cache and one compiled decoding step.

``transformers``' ``generate`` synchronises with the host at every step (stopping criteria) and runs its logits
processors eagerly, so a batch of 256 short sequences spends most of its time waiting on Python; and its SDPA
attention copies a grouped-query KV cache once per query head at every step. Here attention reads the cache once,
and on CUDA only each row's filled slots (``mrlm_hf.attention.cache_window_decode``); the whole decoding step (forward
pass and sampling) is one function compiled with CUDA graphs (``torch.compile(mode="reduce-overhead")``), batches are
padded to a fixed size so the graph is reused, and the host looks at the generated tokens only every ``check_every``
steps. The prefill packs the prompts back to back and runs the cache-free parts of each layer compiled. Sampling is
``argmax(logits / T + Gumbel noise)``, which draws from ``softmax(logits / T)`` exactly like multinomial sampling;
greedy decoding is the plain argmax.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from mrlm_hf.attention import (
    base_model,
    decoding_attention,
    packed_sequences,
    uses_varlen,
    varlen_available,
    window_decoding_available,
)

logger = logging.getLogger(__name__)


class StaticDecoder:
    """Generate continuations of token-id prompts with a preallocated cache of ``max_cache_len`` positions.

    ``compile`` (default: on CUDA) compiles the decoding step with CUDA graphs, and, for the prefill, the parts of
    each decoder layer that hold no cache (norms, MLP) with symbolic token counts. ``prefill`` is "packed" (prompts
    back to back in one row), "padded", or "auto": packed where PyTorch's packed-sequence kernel runs (CUDA,
    fp16/bf16). ``prefill_tokens`` caps the tokens of one prefill pass (default: what a tenth of the free GPU memory
    holds, 4k-128k tokens; 16k on CPU)."""

    def __init__(
        self,
        model: Any,
        batch_size: int,
        max_cache_len: int,
        compile: bool | None = None,
        prefill_tokens: int | None = None,
        prefill: str = "auto",
    ) -> None:
        from transformers import StaticCache

        self.model, self.batch_size, self.max_cache_len = model, batch_size, max_cache_len
        if prefill not in ("auto", "packed", "padded"):
            raise ValueError(f"prefill={prefill!r}: use 'auto', 'packed' or 'padded'.")
        self.prefill = prefill
        # transformers >= 5.24 names the cache argument ``cache`` (``past_key_values`` is deprecated there).
        forward = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self.device = next(model.parameters()).device
        self.prefill_tokens = prefill_tokens or _prefill_budget(model, self.device)
        self.cache = StaticCache(config=model.config, max_cache_len=max_cache_len)
        compile = self.device.type == "cuda" if compile is None else compile
        if compile and any(getattr(m.forward, "__module__", "").startswith("liger_kernel") for m in model.modules()):
            logger.warning(
                "This model carries Liger kernels (fast_gpu_defaults applies them for training): they keep the "
                "compiled decoding step out of one CUDA graph, which makes the static decoder several times slower "
                "(bench/RESULTS.md). Decode with a model without them for speed."
            )
        # dynamic=None (torch's automatic dynamic shapes), not False: the first batch size compiles a graph
        # specialised to it; a second size compiles once more with a symbolic batch dimension, which every later
        # size reuses (only a new CUDA graph is recorded). With False each size was a full compile, and past
        # torch._dynamo's recompile limit the step silently ran eagerly.
        self._step = torch.compile(self._decode, mode="reduce-overhead", dynamic=None) if compile else self._decode
        # The prefill compiles only the cache-free parts of the decoder layers (norms, MLP): one graph per class
        # serves all layers. Whole layers would each be a new graph (attention indexes the cache by layer), and compiling
        # the whole model costs a long cold start (bench/RESULTS.md).
        self._compile_prefill = compile
        self._compiled_blocks: dict[torch.nn.Module, Any] | None = None

    def _decode(self, tokens, position_ids, cache_position, attention_mask, window, temperature: float, sample: bool):
        logits = (
            self.model(
                input_ids=tokens,
                position_ids=position_ids,
                cache_position=cache_position,
                attention_mask=attention_mask,
                **{self._cache_arg: self.cache},
                use_cache=True,
                **window,
            )
            .logits[:, -1, :]
            .float()
        )
        return _pick(logits, temperature, sample)

    def _prefill(self, prompts: Sequence[Sequence[int]], width: int, pad_token_id: int) -> torch.Tensor:
        """Fill the cache with the prompts, right-aligned at ``width``; returns the next-token logits (fp32).

        Prompts run shortest first in chunks of about ``prefill_tokens`` tokens, with logits for each prompt's last
        position only. Packed (``prefill="packed"``), a chunk is one row of its prompts back to back, each attending
        to itself alone (PyTorch's FlashAttention kernel for packed sequences where ``varlen_available()``, else
        a block-diagonal mask); padded, a chunk is a batch padded to its own longest prompt."""
        packed = self._packed_prefill()
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        chunks, chunk, tokens = [], [], 0
        for i in order:
            n = len(prompts[i])
            if chunk and (tokens + n if packed else (len(chunk) + 1) * n) > self.prefill_tokens:
                chunks.append(chunk)
                chunk, tokens = [], 0
            chunk.append(i)
            tokens += n
        chunks.append(chunk)
        n_layers = len(self.cache.layers)
        keys: list[torch.Tensor | None] = [None] * n_layers
        values: list[torch.Tensor | None] = [None] * n_layers
        logits: torch.Tensor | None = None
        run = self._run_packed if packed else self._run_padded
        with self._cache_free_blocks_compiled():
            for chunk in chunks:
                chunk_logits, layers, place = run([prompts[i] for i in chunk], width, pad_token_id)
                rows = torch.tensor(chunk, device=self.device)
                if logits is None:
                    logits = chunk_logits.new_zeros((self.batch_size, chunk_logits.shape[-1]))
                logits[rows] = chunk_logits
                for layer, cached in enumerate(layers):
                    if keys[layer] is None:
                        shape = (self.batch_size, cached.keys.shape[1], width, cached.keys.shape[-1])
                        keys[layer] = cached.keys.new_zeros(shape)
                        values[layer] = cached.values.new_zeros((*shape[:-1], cached.values.shape[-1]))
                    place(keys[layer], rows, cached.keys)
                    place(values[layer], rows, cached.values)
        self.cache.reset()
        positions = {"cache_position": torch.arange(width, device=self.device)}
        for layer in range(n_layers):
            self.cache.update(keys[layer], values[layer], layer, positions)
        return logits

    @contextmanager
    def _cache_free_blocks_compiled(self) -> Iterator[None]:
        """Within the block the decoder layers' children that hold no cache run ``torch.compile``d (symbolic token
        counts; instances of one class share one graph); afterwards the model is as it was, for training and for
        the decoding step's own graph."""
        if not self._compile_prefill:
            yield
            return
        if self._compiled_blocks is None:
            self._compiled_blocks = {m: torch.compile(m.forward, dynamic=True) for m in cache_free_blocks(self.model)}
        own = {m: m.__dict__.get("forward") for m in self._compiled_blocks}  # e.g. accelerate's hooks
        for module, compiled in self._compiled_blocks.items():
            module.forward = compiled
        try:
            yield
        finally:
            for module, forward in own.items():
                if forward is None:
                    del module.forward
                else:
                    module.forward = forward

    def _packed_prefill(self) -> bool:
        if self.prefill != "auto":
            return self.prefill == "packed"
        return next(self.model.parameters()).dtype in (torch.float16, torch.bfloat16) and self._packed_kernel()

    def _run_padded(self, prompts: Sequence[Sequence[int]], width: int, pad_token_id: int):
        """One forward pass over the prompts as a left-padded batch: (last logits, cache layers, placement)."""
        from transformers import DynamicCache

        w = max(map(len, prompts))
        ids = torch.full((len(prompts), w), pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), w), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, w - len(prompt) :] = torch.tensor(prompt)
            attention[row, w - len(prompt) :] = 1
        ids, attention = ids.to(self.device), attention.to(self.device)
        output = self.model(
            input_ids=ids,
            attention_mask=attention,
            position_ids=(attention.cumsum(-1) - 1).clamp(min=0),
            **{self._cache_arg: DynamicCache()},
            use_cache=True,
            logits_to_keep=1,
        )

        def place(target: torch.Tensor, rows: torch.Tensor, source: torch.Tensor) -> None:
            target[rows, :, width - w :] = source

        return output.logits[:, -1, :].float(), output.past_key_values.layers, place

    def _run_packed(self, prompts: Sequence[Sequence[int]], width: int, pad_token_id: int):
        """One forward pass over the prompts packed in one row: (last logits, cache layers, placement)."""
        from transformers import DynamicCache

        lengths = torch.tensor([len(p) for p in prompts])
        ends = lengths.cumsum(0)
        dtype = next(self.model.parameters()).dtype
        sequence, positions, attend = packed_sequences(lengths, self._packed_kernel(), dtype, self.device)
        ids = torch.tensor([t for p in prompts for t in p])[None]
        output = self.model(
            input_ids=ids.to(self.device),
            position_ids=positions[None],
            **{self._cache_arg: DynamicCache()},
            use_cache=True,
            logits_to_keep=(ends - 1).to(self.device),
            **attend,
        )
        columns = (width - lengths.to(self.device))[sequence] + positions

        def place(target: torch.Tensor, rows: torch.Tensor, source: torch.Tensor) -> None:
            target[rows[sequence], :, columns] = source[0].transpose(0, 1)

        return output.logits[0].float(), output.past_key_values.layers, place

    def _packed_kernel(self) -> bool:
        return varlen_available() and uses_varlen(self.model)

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
        # Everything the loop feeds the step is already on the device: a host-to-device copy (``torch.tensor(...,
        # device=...)``) waits for the GPU to finish, which left it idle while Python launched the next step.
        cache_positions = torch.arange(width, width + max_new_tokens, device=self.device)
        # Each row's filled cache slots at step t: [width - length, width + t]; "varlen" attention reads only those.
        windowed = uses_varlen(self.model) and window_decoding_available(self.device)
        cache_start = width - lengths
        cache_used = lengths + torch.arange(1, max_new_tokens + 1, device=self.device)[:, None]
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
                cache_positions[t : t + 1],
                mask.clone(),
                {"cache_start": cache_start, "cache_used": cache_used[t]} if windowed else {},
                temperature,
                do_sample,
            ).clone()
        stops = set(eos_token_ids)
        results = []
        for row in out[: len(prompts), :steps].tolist():
            cut = next((j + 1 for j, t in enumerate(row) if t in stops), len(row))
            results.append(row[:cut])
        return results


def cache_free_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The children of each decoder layer (the classes ``_no_split_modules`` names) that hold no KV cache state, i.e.
    contain no module with a ``layer_idx``: in ``transformers``' decoder models, the norms and the MLP."""
    base = base_model(model)
    layer_classes = set(getattr(base, "_no_split_modules", None) or ())
    return [
        child
        for module in base.modules()
        if type(module).__name__ in layer_classes
        for child in module.children()
        if not any(hasattr(m, "layer_idx") for m in child.modules())
    ]


def _prefill_budget(model: torch.nn.Module, device: torch.device) -> int:
    """Tokens per prefill pass: what a tenth of the free GPU memory holds of one layer's activations (4k-128k)."""
    if device.type != "cuda":
        return 16384
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    hidden = config.hidden_size
    width = 3 * (getattr(config, "intermediate_size", None) or 4 * hidden) + 4 * hidden
    per_token = 2 * width * next(model.parameters()).element_size()
    free, _ = torch.cuda.mem_get_info(device)
    return int(min(131072, max(4096, 0.1 * free / per_token)))


def _pick(logits: torch.Tensor, temperature: float, sample: bool) -> torch.Tensor:
    if not sample:
        return logits.argmax(-1)
    noise = torch.rand_like(logits).clamp_(min=1e-20)
    return (logits / temperature - torch.log(-torch.log(noise))).argmax(-1)
