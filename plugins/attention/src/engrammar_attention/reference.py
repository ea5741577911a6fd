"""Readable references for the components: the test oracles, never used for training.

Every output is recomputed from scratch: for sample b at step t the reference lists the tokens the query may see (its segment since the last reset,
inside the span), projects each one on its own, rotates queries and keys as complex numbers
(pair j of a head is x_j + i x_{j+K/2}, turned by e^{i · position · base^(-2j/K)}), and takes an
explicit softmax. No cache, no mask, nothing shared with the components' own attention code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .cached_attention import CachedAttention
from .persistent_memory import PersistentMemory

__all__ = ["attention_reference", "persistent_reference"]


def _rotated(vector: Tensor, position: int, base: float) -> Tensor:
    half = vector.shape[0] // 2
    frequencies = base ** (-torch.arange(half, dtype=torch.float64) * 2.0 / vector.shape[0])
    turn = torch.polar(torch.ones(half, dtype=torch.float64), position * frequencies)
    pairs = torch.complex(vector[:half].double(), vector[half:].double()) * turn
    return torch.cat([pairs.real, pairs.imag]).to(vector.dtype)


def attention_reference(model: CachedAttention, x: Tensor, resets: Tensor | None = None) -> Tensor:
    """``model``: a kv_attention or sliding_window component; x (B, T, in) from an empty state."""
    batch, length, _ = x.shape
    heads, head_dim = model.num_heads, model.head_dim
    w_q, w_k, w_v = model.qkv_proj.weight.view(3, heads, head_dim, -1)
    span = model.span or length
    rows = []
    for b in range(batch):
        start = 0
        outputs = []
        for t in range(length):
            if resets is not None and bool(resets[b, t]):
                start = t
            visible = range(max(start, t - span + 1), t + 1)
            mixed = []
            for h in range(heads):
                query = w_q[h] @ x[b, t]
                keys = [w_k[h] @ x[b, s] for s in visible]
                values = [w_v[h] @ x[b, s] for s in visible]
                if model.spec.rotary:
                    query = _rotated(query, t - start, model.spec.rope_base)
                    keys = [_rotated(key, s - start, model.spec.rope_base) for key, s in zip(keys, visible)]
                if model.persistent is not None:
                    keys = [*model.persistent.keys[h], *keys]
                    values = [*model.persistent.values[h], *values]
                weights = torch.softmax(torch.stack(keys) @ query / math.sqrt(head_dim), dim=0)
                mixed.append(weights @ torch.stack(values))
            outputs.append(model.out_proj(torch.cat(mixed)))
        rows.append(torch.stack(outputs))
    return torch.stack(rows)


def persistent_reference(model: PersistentMemory, x: Tensor) -> Tensor:
    """``model``: a persistent_memory component; the explicit softmax over its slots, token by token."""
    batch, length, _ = x.shape
    s = model.spec
    w_q = model.query_proj.weight.view(s.num_heads, s.head_dim, -1)
    out = torch.empty(batch, length, s.hidden_size, dtype=x.dtype)
    for b in range(batch):
        for t in range(length):
            mixed = []
            for h in range(s.num_heads):
                scores = model.persistent.keys[h] @ (w_q[h] @ x[b, t]) / math.sqrt(s.head_dim)
                mixed.append(torch.softmax(scores, dim=0) @ model.persistent.values[h])
            out[b, t] = model.out_proj(torch.cat(mixed))
    return out
