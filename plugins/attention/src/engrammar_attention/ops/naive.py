"""Attention written literally, one query at a time: the readable definition and the test oracle.

Per head, query t (scaled by ``scale``, default K^-1/2) sees the keys :mod:`.visibility` allows and
every persistent slot:

    w_t = softmax([q_t · p_1, ..., q_t · p_P, q_t · k_a for visible a])
    o_t = Σ w_t · [persistent values, visible values]

Everything runs in the inputs' dtype, so the float64 oracle is exact to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .visibility import allowed_keys

__all__ = ["naive_attention"]


def naive_attention(
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
    """q (B, H, T, K); k (B, H, N, K) and v (B, H, N, V): cache + new tokens, queries are the last
    T of them; ``first_visible`` (B, T) int64; ``span`` tokens seen at most per query (None: all);
    persistent keys (H, P, K) and values (H, P, V), seen by every query. Returns o (B, H, T, V)."""
    batch, _, length, key_dim = q.shape
    scale = key_dim**-0.5 if scale is None else scale
    allowed = allowed_keys(first_visible, k.shape[2], span)  # (B, T, N)
    outputs = []
    for t in range(length):
        scores = torch.einsum("bhk,bhnk->bhn", q[:, :, t] * scale, k)
        scores = scores.masked_fill(~allowed[:, None, t], float("-inf"))
        values = v
        if persistent_keys is not None and persistent_values is not None:
            slot_scores = torch.einsum("bhk,hpk->bhp", q[:, :, t] * scale, persistent_keys)
            scores = torch.cat([slot_scores, scores], dim=-1)
            values = torch.cat([persistent_values.expand(batch, *persistent_values.shape), v], dim=2)
        weights = torch.softmax(scores, dim=-1)
        outputs.append(torch.einsum("bhn,bhnv->bhv", weights, values))
    return torch.stack(outputs, dim=2)
