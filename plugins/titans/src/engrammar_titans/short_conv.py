"""A short causal depthwise convolution over time that honours resets, for the q, k, v projections.

Its state is the last ``size - 1`` inputs. A reset at step t hides every input from before t, as a
fresh start with an all-zero cache would (there is no bias, so zeros contribute nothing).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ShortConvolution"]


class ShortConvolution(nn.Module):
    """y_t = Σ_{lag < size} weight[:, lag] ⊙ x_{t − lag}, per channel; no bias."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.size = size
        bound = 1.0 / math.sqrt(size)
        self.weight = nn.Parameter(torch.empty(channels, size).uniform_(-bound, bound))

    def forward(self, x: Tensor, cache: Tensor, resets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, T, C), cache (B, size − 1, C) oldest first, resets (B, T) bool or None.
        Returns y (B, T, C) and the new cache."""
        history, length = self.size - 1, x.shape[1]
        window = torch.cat([cache, x], dim=1)  # (B, history + T, C)
        if resets is None:
            visible = None
        else:
            # segment of every position (the cache is segment 0): a tap reads only its own segment
            segment = torch.cat([resets.new_zeros(x.shape[0], history, dtype=torch.long), resets.long().cumsum(1)], 1)
            visible = segment
        y = torch.zeros_like(x)
        for lag in range(self.size):
            tap = window[:, history - lag : history - lag + length]
            if visible is not None:
                tap = tap * (visible[:, history - lag : history - lag + length] == visible[:, history:])[..., None]
            y = y + self.weight[:, lag] * tap
        new_cache = window[:, length:]
        if visible is not None:
            new_cache = new_cache * (visible[:, length:] == visible[:, -1:])[..., None]
        return y, new_cache

    def step(self, x_t: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x_t (B, C), cache (B, size − 1, C) -> y_t (B, C) and the new cache."""
        window = torch.cat([cache, x_t[:, None]], dim=1)  # (B, size, C), oldest first
        y_t = (window * self.weight.flip(-1).transpose(0, 1)).sum(dim=1)
        return y_t, window[:, 1:]
