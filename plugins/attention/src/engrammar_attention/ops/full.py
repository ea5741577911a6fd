"""Masked full attention through PyTorch's fused kernel: every query against every key, with the
dense mask of :mod:`.visibility`. O(T · N) time and memory; the whole-sequence path of
``kv_attention`` and the baseline ``sliding_window`` is measured against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .visibility import allowed_keys

__all__ = ["full_attention"]


def full_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    first_visible: Tensor,
    span: int | None,
    *,
    scale: float | None = None,
    persistent_keys: Tensor | None = None,
    persistent_values: Tensor | None = None,
) -> Tensor:
    """Same arguments and result as :func:`.naive.naive_attention`: o (B, H, T, V)."""
    batch, _, length, _ = q.shape
    plain = persistent_keys is None and k.shape[2] == length and (span is None or span >= length)
    if plain and not bool(first_visible.any()):
        # no cache, no reset, no window inside the call: the plain causal mask (fused kernel)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    allowed = allowed_keys(first_visible, k.shape[2], span)[:, None]  # (B, 1, T, N)
    if persistent_keys is not None and persistent_values is not None:
        k = torch.cat([persistent_keys.expand(batch, *persistent_keys.shape), k], dim=2)
        v = torch.cat([persistent_values.expand(batch, *persistent_values.shape), v], dim=2)
        always = allowed.new_ones(*allowed.shape[:-1], persistent_keys.shape[1])
        allowed = torch.cat([always, allowed], dim=-1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)
