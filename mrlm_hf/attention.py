"""One attention implementation for packed training batches and for decoding, without flash-attn.

``register_varlen_attention()`` adds ``attn_implementation="varlen"`` to ``transformers``:

* when a batch carries the sequence boundaries that TRL's padding-free collator computes
  (``cu_seq_lens_q``/``cu_seq_lens_k``), attention runs through PyTorch's own FlashAttention kernel for packed
  sequences (``torch.nn.attention.varlen.varlen_attn``, PyTorch >= 2.9), so documents packed in one row never attend
  to each other and no block mask is materialised;
* one new token per sequence against a KV cache with grouped-query heads (a decoding step) runs as one SDPA call in
  which the query heads that share a key/value head are that head's query rows: the cache is read once, where
  ``transformers``' SDPA path, given a padding mask, first copies it once per query head (``repeat_kv``), which
  made attention 85% of a decoding step (bench/RESULTS.md);
* any other call (padded batches, prefill) is SDPA with the usual mask,

so one model serves training and rollouts.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

NAME = "varlen"


def varlen_available() -> bool:
    """PyTorch has the packed-sequence FlashAttention kernel and a CUDA device to run it on."""
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def _causal_kwargs() -> dict[str, Any]:
    from torch.nn.attention.varlen import varlen_attn

    parameters = inspect.signature(varlen_attn).parameters
    if "is_causal" in parameters:  # PyTorch 2.9-2.11
        return {"is_causal": True}
    return {"window_size": (-1, 0)}  # later releases: (left, right) window, (-1, 0) is causal


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """``transformers`` attention function: (batch, heads, seq, dim) in, (batch, seq, heads, dim) out."""
    if _is_grouped_decode(query, key, attention_mask):
        return grouped_query_decode(query, key, value, attention_mask, scaling), None
    cu_q, cu_k = kwargs.get("cu_seq_lens_q"), kwargs.get("cu_seq_lens_k")
    if cu_q is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    from torch.nn.attention.varlen import varlen_attn

    dtype = query.dtype
    if dtype not in (torch.float16, torch.bfloat16):  # fp32 master weights under autocast: FlashAttention is 16-bit
        half = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else torch.bfloat16
        query, key, value = query.to(half), key.to(half), value.to(half)
    q = query[0].transpose(0, 1)  # (tokens, heads, dim)
    k = key[0].transpose(0, 1)
    v = value[0].transpose(0, 1)
    if k.shape[1] != q.shape[1]:  # grouped-query attention: repeat the key/value heads
        repeat = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(repeat, dim=1)
        v = v.repeat_interleave(repeat, dim=1)
    cu_q = cu_q.to(device=q.device, dtype=torch.int32)
    cu_k = cu_q if cu_k is None else cu_k.to(device=q.device, dtype=torch.int32)
    max_q = int(kwargs.get("max_length_q") or (cu_q[1:] - cu_q[:-1]).max())
    max_k = int(kwargs.get("max_length_k") or max_q)
    out = varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, scale=scaling, **_causal_kwargs())
    return out.unsqueeze(0).to(dtype), None


def _is_grouped_decode(query: torch.Tensor, key: torch.Tensor, attention_mask: torch.Tensor | None) -> bool:
    one_row_mask = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[-2] == 1)
    return query.shape[2] == 1 and key.shape[1] != query.shape[1] and one_row_mask


def grouped_query_decode(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
) -> torch.Tensor:
    """Attention of one query token per sequence over a cache with fewer key/value heads, without repeating them.

    ``query`` (batch, heads, 1, dim); ``key``/``value`` (batch, kv_heads, length, dim); ``attention_mask`` None or
    (batch, 1, 1, length), boolean (True attends) or additive. Query head ``h`` uses key/value head
    ``h // (heads // kv_heads)``, as ``transformers``' ``repeat_kv`` has it. Returns (batch, 1, heads, dim)."""
    batch, heads, _, dim = query.shape
    grouped = query.reshape(batch, key.shape[1], heads // key.shape[1], dim)
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, 1, heads, dim)


def _varlen_mask(batch_size: int, q_length: int, kv_length: int, *args: Any, **kwargs: Any):
    """No mask for a packed single row (the boundaries travel as cu_seq_lens); SDPA's mask otherwise."""
    from transformers.masking_utils import sdpa_mask

    attention_mask = kwargs.get("attention_mask", args[3] if len(args) > 3 else None)
    if batch_size == 1 and attention_mask is None and q_length == kv_length:
        return None
    return sdpa_mask(batch_size, q_length, kv_length, *args, **kwargs)


def register_varlen_attention() -> str:
    """Register ``attn_implementation="varlen"`` with ``transformers`` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, varlen_attention_forward)
    AttentionMaskInterface.register(NAME, _varlen_mask)
    return NAME


def uses_varlen(model: torch.nn.Module) -> bool:
    """The model (or the base model under a peft wrapper) runs attention "varlen"."""
    return _base(model).config._attn_implementation == NAME


def _base(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@contextmanager
def decoding_attention(model: torch.nn.Module) -> Iterator[None]:
    """Within the block a model on SDPA runs attention "varlen" (its decoding step reads a grouped-query cache once);
    its own implementation is back afterwards. Models on other implementations are left alone."""
    base = _base(model)
    previous = base.config._attn_implementation
    if previous != "sdpa":
        yield
        return
    register_varlen_attention()
    base.set_attn_implementation(NAME)
    try:
        yield
    finally:
        base.set_attn_implementation(previous)


def apply_fast_kernels(model: torch.nn.Module, padding_free: bool = True) -> list[str]:
    """The fast GPU path measured in bench/RESULTS.md: packed-sequence attention for padding-free batches, and
    Liger's fused RMSNorm/SwiGLU/RoPE kernels if ``liger-kernel`` is installed. Returns what was applied."""
    applied = []
    base = _base(model)
    if padding_free and varlen_available() and base.config._attn_implementation in ("sdpa", "eager"):
        register_varlen_attention()
        base.set_attn_implementation(NAME)
        applied.append("varlen_attention")
    try:
        from liger_kernel.transformers.monkey_patch import _apply_liger_kernel_to_instance
    except ImportError:
        return applied
    try:
        _apply_liger_kernel_to_instance(
            base, rope=True, rms_norm=True, swiglu=True, cross_entropy=False, fused_linear_cross_entropy=False
        )
        applied.append("liger_kernels")
    except Exception as error:  # an architecture Liger does not know: keep the model as it is
        import logging

        logging.getLogger(__name__).warning("Liger kernels not applied: %s", error)
    return applied
