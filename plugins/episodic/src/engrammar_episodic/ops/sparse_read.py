"""Top-k content reads, as in sparse access memory (Rae et al., 2016).

For each query q_h with strength β_h, over a table of keys M (N, K) and values U (N, V)::

    score_n  = β_h · cos(q_h, M_n)          (slots nobody wrote: -inf in effect)
    S_h      = the k slots with the highest scores
    w_h,n    = softmax over S_h of score_n,  0 outside S_h
    read_h   = Σ_n w_h,n U_n

:func:`sparse_read_naive` computes every score with autograd and masks the rest away: the backward
pass keeps (B, H, N) scores and the whole table. :func:`sparse_read` chooses S_h without autograd
and recomputes the k scores it keeps from the k gathered rows, so the backward pass keeps only those
rows, their indices and k weights per query. They agree in values and in gradients (the choice of S
is piecewise constant; ties between equal scores aside).
"""

from __future__ import annotations

import torch
from engrammar.nn import cosine_similarity
from torch import Tensor

from ..table import Table, mask_free_slots, read_rows

__all__ = ["sparse_read", "sparse_read_naive"]


def sparse_read_naive(table: Table, queries: Tensor, strength: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """The oracle: queries (B, H, K), strength (B, H) -> reads (B, H, V) and the slots read (B, H, k)."""
    scores = mask_free_slots(strength.unsqueeze(-1) * cosine_similarity(table.keys, queries), table.occupied)
    slots = scores.topk(top_k, dim=-1).indices
    kept = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, slots, True)
    weights = torch.softmax(scores.masked_fill(~kept, float("-inf")), dim=-1)
    return weights @ table.values, slots


def sparse_read(table: Table, queries: Tensor, strength: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """The fast path, same meaning: queries (B, H, K), strength (B, H) -> (B, H, V), slots (B, H, k)."""
    batch, heads, _ = queries.shape
    with torch.no_grad():
        scores = mask_free_slots(strength.unsqueeze(-1) * cosine_similarity(table.keys, queries), table.occupied)
        slots = scores.topk(top_k, dim=-1).indices  # (B, H, k)
    keys, values, occupied = read_rows(table, slots.reshape(batch, heads * top_k))
    keys = keys.view(batch, heads, top_k, -1)
    cosines = cosine_similarity(keys, queries.unsqueeze(-2)).squeeze(-2)  # (B, H, k)
    kept_scores = strength.unsqueeze(-1) * cosines
    kept_scores = kept_scores.masked_fill(~occupied.view(batch, heads, top_k), torch.finfo(kept_scores.dtype).min)
    weights = torch.softmax(kept_scores, dim=-1)
    reads = (weights.unsqueeze(-1) * values.view(batch, heads, top_k, -1)).sum(-2)
    return reads, slots
