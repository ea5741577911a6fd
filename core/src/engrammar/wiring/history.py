"""Delayed outputs over a whole sequence, exactly as a step-by-step run would see them.

A delayed reference ``src@-k`` reads src's output k steps earlier. The graph state keeps, per
delayed source, its last K outputs (``history``, (B, K, W), oldest first; K is the largest delay
read). A reset at step r empties the history of that sample before step r, so after a reset a
delayed read gives zeros until k new steps have passed.

With ``counts`` = ``resets.cumsum(1)`` (the number of resets in [0, t]), the value read at step t
is ``y[t - k]`` (or the history, when t - k < 0) unless a reset happened in (t - k, t].
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["advance_history", "delayed_sequence"]


def delayed_sequence(history: Tensor, y: Tensor, delay: int, counts: Tensor | None) -> Tensor:
    """``y`` (B, T, W) delayed by ``delay`` steps, the first ones taken from ``history`` (B, K, W).

    ``counts`` (B, T) int: cumulative resets, or None when there are none."""
    longest = history.shape[1]
    length = y.shape[1]
    full = torch.cat([history, y], dim=1) if longest else y
    out = full[:, longest - delay : longest - delay + length]
    if counts is None:
        return out
    before = torch.nn.functional.pad(counts, (delay, 0))[:, :length]  # resets in [0, t - k]
    stale = (counts - before) > 0  # a reset in (t - k, t]
    return out.masked_fill(stale.unsqueeze(-1), 0.0)


def advance_history(history: Tensor, y: Tensor, counts: Tensor | None) -> Tensor:
    """The history (B, K, W) after ``y`` (B, T, W): its last K outputs, emptied behind resets."""
    longest = history.shape[1]
    length = y.shape[1]
    full = torch.cat([history, y], dim=1)
    out = full[:, length:]
    if counts is None:
        return out
    # entry j holds step s = T - K + j; it is stale when a reset happened in (s, T - 1]
    padded = torch.nn.functional.pad(counts, (longest, 0))  # index K + s holds counts[s] (0 for s < 0)
    at_entry = padded[:, length : length + longest]
    stale = (counts[:, -1:] - at_entry) > 0
    return out.masked_fill(stale.unsqueeze(-1), 0.0)
