"""Which keys each query may see: one description shared by every attention path.

Keys are indexed in *cache + new* coordinates: the S cached slots are 0 .. S-1 (oldest first; a
sample's newest ``min(position, S)`` slots hold its tokens since its last reset, older slots are
empty), and new token t is key S + t, which is also where query t sits. Query t sees key a when

    first_visible[b, t] <= a <= S + t      and      a > S + t - span

``first_visible`` marks where the query's segment starts (its sample's last reset, or its oldest
valid cached slot); ``span`` is how many tokens a query sees at most, itself included (None: all).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["allowed_keys", "segments"]


def segments(position: Tensor, cache_length: int, length: int, resets: Tensor | None) -> tuple[Tensor, Tensor]:
    """Segment starts and positions of ``length`` new tokens.

    ``position`` (B,) int64: tokens each sample has seen since its last reset. ``resets`` (B, T)
    bool or None: where true, the sample restarts before that token. Returns ``first_visible``
    (B, T) int64 (see the module docstring) and ``positions`` (B, T) int64, each new token's place
    in its segment (0 at a reset), which rotary embeddings use.
    """
    batch = position.shape[0]
    time = torch.arange(length, device=position.device)
    first_cached = (cache_length - position.clamp(max=cache_length))[:, None].expand(batch, length)
    continued = position[:, None] + time
    if resets is None:
        return first_cached, continued
    last_reset = torch.where(resets, time, -1).cummax(dim=1).values  # (B, T); -1: none yet in this call
    after_reset = last_reset >= 0
    first_visible = torch.where(after_reset, cache_length + last_reset, first_cached)
    positions = torch.where(after_reset, time - last_reset, continued)
    return first_visible, positions


def allowed_keys(first_visible: Tensor, num_keys: int, span: int | None) -> Tensor:
    """The dense mask (B, T, num_keys) bool: may query t see key a. Queries are the last T keys."""
    length = first_visible.shape[1]
    key_index = torch.arange(num_keys, device=first_visible.device)
    query_index = torch.arange(num_keys - length, num_keys, device=first_visible.device)[:, None]  # (T, 1)
    allowed = (key_index >= first_visible[..., None]) & (key_index <= query_index)
    if span is not None:
        allowed = allowed & (key_index > query_index - span)
    return allowed
