"""Sliding-window attention in blocks: O(T · window) instead of O(T²).

Same meaning as :mod:`.naive` with ``span = window`` (read :mod:`.visibility` for the coordinates).
The cache is trimmed or padded to exactly ``window`` slots (older slots are never seen; padding is
never visible), so the keys are ``window`` slots followed by the T new tokens. Cut into blocks of
``window``, the queries of block n see only keys of block n (the cache, for n = 0, sits one block
earlier) and of the block before it:

    query i of block n  ->  key j of blocks (n - 1, n), j in (i, i + window]

a band that is the same for every block, intersected with each query's segment start. All blocks
go through the fused kernel at once: (B · blocks, H, window, 2 · window) scores instead of
(B, H, T, T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["sliding_window_attention"]


def sliding_window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    first_visible: Tensor,
    window: int,
    *,
    scale: float | None = None,
    persistent_keys: Tensor | None = None,
    persistent_values: Tensor | None = None,
) -> Tensor:
    """Same arguments and result as :func:`.naive.naive_attention` with ``span = window``:
    q (B, H, T, K); k (B, H, S + T, K), v (B, H, S + T, V); returns o (B, H, T, V)."""
    batch, heads, length, key_dim = q.shape
    value_dim = v.shape[-1]
    shift = window - (k.shape[2] - length)  # slots added in front (negative: dropped) to make S = window
    k, v = _fit_front(k, shift), _fit_front(v, shift)
    first_visible = (first_visible + shift).clamp(min=0)
    blocks = -(-length // window)
    tail = blocks * window - length
    # Block-major, (B · blocks, H, ...): one fused attention call over all blocks, its mask shared by
    # the heads. Padded queries see the band like any other; their outputs are dropped.
    q = _block_major(F.pad(q, (0, 0, 0, tail)), blocks)  # (B, blocks, H, window, K)
    k = _block_major(F.pad(k, (0, 0, 0, tail)), blocks + 1)
    v = _block_major(F.pad(v, (0, 0, 0, tail)), blocks + 1)
    k = torch.cat([k[:, :-1], k[:, 1:]], dim=3)  # (B, blocks, H, 2 window, K): previous block, own block
    v = torch.cat([v[:, :-1], v[:, 1:]], dim=3)

    offset = torch.arange(2 * window, device=q.device)  # key j of a block pair
    row = torch.arange(window, device=q.device)[:, None]  # query i of a block
    band = (offset > row) & (offset <= row + window)  # (window, 2 window)
    key_index = torch.arange(blocks, device=q.device)[:, None, None] * window + offset  # (blocks, 1, 2 window)
    starts = F.pad(first_visible, (0, tail)).view(batch, blocks, window, 1)
    allowed = band & (key_index >= starts)  # (B, blocks, window, 2 window)
    if persistent_keys is not None and persistent_values is not None:
        slots = persistent_keys.shape[1]
        k = torch.cat([persistent_keys.expand(batch, blocks, heads, slots, key_dim), k], dim=3)
        v = torch.cat([persistent_values.expand(batch, blocks, heads, slots, value_dim), v], dim=3)
        allowed = torch.cat([allowed.new_ones(batch, blocks, window, slots), allowed], dim=-1)
    out = F.scaled_dot_product_attention(
        q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), attn_mask=allowed.flatten(0, 1)[:, None], scale=scale
    )
    out = out.view(batch, blocks, heads, window, value_dim).transpose(1, 2)
    return out.reshape(batch, heads, blocks * window, value_dim)[:, :, :length]


def _block_major(x: Tensor, blocks: int) -> Tensor:
    """(B, H, blocks · window, D) -> (B, blocks, H, window, D)."""
    batch, heads, length, dim = x.shape
    return x.view(batch, heads, blocks, length // blocks, dim).transpose(1, 2)


def _fit_front(x: Tensor, shift: int) -> Tensor:
    """Pad ``shift`` empty slots in front of the key axis (dim 2), or drop ``-shift`` oldest ones."""
    if shift >= 0:
        return F.pad(x, (0, 0, shift, 0))
    return x[:, :, -shift:]
