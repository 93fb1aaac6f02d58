"""One attention implementation for packed training batches and for decoding, without flash-attn.

``register_varlen_attention()`` adds ``attn_implementation="varlen"`` to ``transformers``:

* when a batch carries the sequence boundaries that TRL's padding-free collator computes
  (``cu_seq_lens_q``/``cu_seq_lens_k``), attention runs through PyTorch's own FlashAttention kernel for packed
  sequences (``torch.nn.attention.varlen.varlen_attn``, PyTorch >= 2.9), so documents packed in one row never attend
  to each other and no block mask is materialised;
* one new token per sequence against a KV cache with grouped-query heads (a decoding step) treats the query heads
  that share a key/value head as that head's query rows, so the cache is read once, where ``transformers``' SDPA
  path, given a padding mask, first copies it once per query head (``repeat_kv``) and then reads every copy. Given
  each row's filled cache window (``cache_start``/``cache_used``, as ``StaticDecoder`` passes them) and the
  FlashAttention kernel, it reads only those slots (``cache_window_decode``); otherwise it is one SDPA call over the whole cache with the padding mask;
* any other call (padded batches, prefill) is SDPA with the usual mask,

so one model serves training and rollouts.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

NAME = "varlen"
logger = logging.getLogger(__name__)


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
    if query.shape[2] == 1 and kwargs.get("cache_start") is not None and _flash_decodes(module, query, key, kwargs):
        return cache_window_decode(query, key, value, kwargs["cache_start"], kwargs["cache_used"], scaling), None
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


def window_decoding_available(device: torch.device) -> bool:
    """The device runs PyTorch's FlashAttention kernel (an Ampere or newer GPU): a decoder may pass cache windows.
    Checked on the host, once, so that nothing in the compiled step queries the device."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def _flash_decodes(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, kwargs: dict[str, Any]) -> bool:
    """The kernel can run this decoding step: CUDA, fp16/bf16, a head size it supports, a contiguous cache, and plain
    causal attention (no sliding window, logit soft-capping or attention sinks, which only the mask path honours)."""
    plain = getattr(module, "sliding_window", None) is None and not any(
        kwargs.get(name) is not None for name in ("sliding_window", "softcap", "s_aux")
    )
    dim = query.shape[-1]
    half = query.dtype in (torch.float16, torch.bfloat16)
    return plain and query.is_cuda and half and dim % 8 == 0 and dim <= 256 and key.is_contiguous()


def cache_window_segments(
    cache_start: torch.Tensor, cache_used: torch.Tensor, kv_heads: int, cache_len: int, group: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Packed-sequence arguments that make each (row, key/value head) one sequence of a flattened cache.

    The cache (batch, kv_heads, cache_len, dim) is read as ``batch * kv_heads * cache_len`` positions; sequence
    ``row * kv_heads + head`` starts at its row's first filled slot (``cache_start``) and uses ``cache_used`` slots
    from there; its queries are the ``group`` query heads of that key/value head. Returns (query boundaries, key
    starts, keys used), int32: the FlashAttention kernel reads keys ``[start, start + used)`` of each sequence and
    nothing else, so left padding and not-yet-written slots cost no memory traffic."""
    rows = cache_start.shape[0]
    sequences = torch.arange(rows * kv_heads, device=cache_start.device)
    starts = sequences * cache_len + cache_start.repeat_interleave(kv_heads)
    key_starts = torch.cat([starts, starts.new_full((1,), rows * kv_heads * cache_len)]).to(torch.int32)
    query_bounds = (torch.arange(rows * kv_heads + 1, device=cache_start.device) * group).to(torch.int32)
    return query_bounds, key_starts, cache_used.repeat_interleave(kv_heads).to(torch.int32)


def cache_window_decode(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cache_start: torch.Tensor,
    cache_used: torch.Tensor,
    scaling: float | None = None,
) -> torch.Tensor:
    """Decoding attention that reads only each row's filled cache slots ``[cache_start, cache_start + cache_used)``.

    ``query`` (batch, heads, 1, dim); ``key``/``value`` the contiguous cache (batch, kv_heads, cache_len, dim);
    ``cache_start``/``cache_used`` (batch,) integers. One call of PyTorch's FlashAttention kernel for packed sequences
    with per-sequence key counts (``seqused_k``), so left padding and unwritten slots are never read. Returns
    (batch, 1, heads, dim), like ``grouped_query_decode``."""
    batch, heads, _, dim = query.shape
    kv_heads, cache_len = key.shape[1], key.shape[2]
    group = heads // kv_heads
    query_bounds, key_starts, used = cache_window_segments(cache_start, cache_used, kv_heads, cache_len, group)
    # Query head h of row b is query row h % group of sequence (b, h // group).
    out = packed_flash_attention(
        query.reshape(batch * heads, 1, dim),
        key.view(-1, 1, dim),
        value.view(-1, 1, dim),
        query_bounds,
        key_starts,
        group,
        cache_len,
        scaling,
        used,
    )
    return out.reshape(batch, 1, heads, dim)


def packed_flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    query_bounds: torch.Tensor,
    key_starts: torch.Tensor,
    max_query: int,
    max_key: int,
    scaling: float | None,
    keys_used: torch.Tensor,
) -> torch.Tensor:
    """PyTorch's FlashAttention kernel for packed sequences without a causal mask, for inference: sequence ``i`` is
    the queries ``query_bounds[i]:query_bounds[i + 1]`` and the keys ``key_starts[i]:key_starts[i] + keys_used[i]``
    of the flattened (tokens, heads, dim) inputs."""
    return torch.ops.aten._flash_attention_forward(
        query,
        key,
        value,
        query_bounds,
        key_starts,
        max_query,
        max_key,
        0.0,
        False,
        False,
        scale=scaling,
        seqused_k=keys_used,
    )[0]


def _varlen_mask(batch_size: int, q_length: int, kv_length: int, *args: Any, **kwargs: Any):
    """No mask for a packed single row (the boundaries travel as cu_seq_lens); SDPA's mask otherwise."""
    from transformers.masking_utils import sdpa_mask

    attention_mask = kwargs.get("attention_mask", args[3] if len(args) > 3 else None)
    if batch_size == 1 and attention_mask is None and q_length == kv_length:
        return None
    return sdpa_mask(batch_size, q_length, kv_length, *args, **kwargs)


def packed_sequences(
    lengths: torch.Tensor, kernel: bool, dtype: torch.dtype, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Sequences of ``lengths`` laid back to back in one row: (the sequence index of each token, position ids that
    restart at 0 for each sequence, and the attention arguments that keep the sequences apart). With ``kernel`` (the
    model runs "varlen" on a GPU) those are the boundaries for the packed FlashAttention kernel; otherwise a
    block-diagonal causal mask, additive so that SDPA and eager attention both take it, and quadratic in the total
    length: for CPUs and tests."""
    lengths = lengths.cpu()
    ends = lengths.cumsum(0)
    sequence = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    positions = torch.arange(int(ends[-1])) - (ends - lengths)[sequence]
    if kernel:
        boundaries = torch.cat([ends.new_zeros(1), ends]).to(device, torch.int32)
        longest = int(lengths.max())
        attend = dict(cu_seq_lens_q=boundaries, cu_seq_lens_k=boundaries, max_length_q=longest, max_length_k=longest)
    else:
        allowed = (sequence[:, None] == sequence[None, :]).tril()
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
        attend = dict(attention_mask=mask[None, None].to(device))
    return sequence.to(device), positions.to(device), attend


def register_varlen_attention() -> str:
    """Register ``attn_implementation="varlen"`` with ``transformers`` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, varlen_attention_forward)
    AttentionMaskInterface.register(NAME, _varlen_mask)
    return NAME


def uses_varlen(model: torch.nn.Module) -> bool:
    """The model (or the base model under a peft wrapper) runs attention "varlen"."""
    return base_model(model).config._attn_implementation == NAME


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model itself, or the base model under a peft wrapper."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@contextmanager
def decoding_attention(model: torch.nn.Module) -> Iterator[None]:
    """Within the block a model on SDPA runs attention "varlen" (its decoding step reads a grouped-query cache once,
    packed rows run the packed kernel);
    its own implementation is back afterwards. Models on other implementations are left alone."""
    base = base_model(model)
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


def use_varlen_attention(model: torch.nn.Module, replaces: tuple[str, ...] = ("sdpa",)) -> bool:
    """Switch a model (or a peft model's base) running one of ``replaces`` to "varlen" for good, where its kernel runs:
    packed rows then run the packed kernel in every pass, including activation checkpointing's recomputation in the
    backward, and everything else still runs SDPA. Returns whether the model runs "varlen" now."""
    base = base_model(model)
    if base.config._attn_implementation == NAME:
        return True
    if not varlen_available() or base.config._attn_implementation not in replaces:
        return False
    register_varlen_attention()
    base.set_attn_implementation(NAME)
    return True


def apply_fast_kernels(model: torch.nn.Module, padding_free: bool = True) -> list[str]:
    """The fast GPU path (figures in bench/RESULTS.md): packed-sequence attention for padding-free batches, and
    Liger's fused RMSNorm/SwiGLU/RoPE kernels if ``liger-kernel`` is installed. Returns what was applied."""
    applied = []
    base = base_model(model)
    if padding_free and use_varlen_attention(base, ("sdpa", "eager")):
        applied.append("varlen_attention")
    if apply_liger_kernels(base):
        applied.append("liger_kernels")
    return applied


def apply_liger_kernels(model: torch.nn.Module) -> bool:
    """Patch ``model`` in place with Liger's RMSNorm, SwiGLU and RoPE kernels through Liger's public per-architecture
    function (``liger_kernel.transformers.apply_liger_kernel_to_<model_type>(model=...)``). Liger's losses stay off:
    the trainer computes its own per-token loss. Returns False, leaving the model as it is, when ``liger-kernel`` is
    not installed or has no function for this architecture."""
    try:
        import liger_kernel.transformers as liger
    except ImportError:
        return False
    model_type = model.config.model_type
    apply = getattr(liger, f"apply_liger_kernel_to_{model_type}", None)
    if apply is None:
        logger.warning("Liger kernels not applied: liger-kernel has no apply_liger_kernel_to_%s.", model_type)
        return False
    wanted = {
        "rope": True,
        "rms_norm": True,
        "swiglu": True,
        "cross_entropy": False,
        "fused_linear_cross_entropy": False,
    }
    accepted = inspect.signature(apply).parameters  # e.g. Gemma's takes geglu, not swiglu
    apply(model=model, **{name: value for name, value in wanted.items() if name in accepted})
    return True
