"""A short causal depthwise convolution that honours resets, for ``gated_deltanet``'s q, k, v.

Its state is the last ``size - 1`` inputs. A reset at step t hides every input before t from the
window, exactly as a fresh start with an all-zero cache would (the convolution has no bias, so a
zero input contributes nothing).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ShortConvolution"]


class ShortConvolution(nn.Module):
    """y_t = Σ_{lag < size} weight[:, lag] ⊙ x_{t - lag}, per channel; no bias."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.size = size
        bound = 1.0 / math.sqrt(size)
        self.weight = nn.Parameter(torch.empty(channels, size).uniform_(-bound, bound))

    def forward(self, x: Tensor, cache: Tensor, resets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, T, C), cache (B, size - 1, C), resets (B, T) bool or None.
        Returns y (B, T, C) and the new cache (B, size - 1, C)."""
        history = self.size - 1
        length = x.shape[1]
        padded = torch.cat([cache, x], dim=1)  # (B, history + T, C)
        if resets is None:
            y = torch.zeros_like(x)
            for lag in range(self.size):
                y = y + self.weight[:, lag] * padded[:, history - lag : history - lag + length]
            return y, padded[:, length:]
        # segment id per position (the cache counts as segment 0); a tap is used only within one
        # segment, and the cache kept for later keeps only the newest segment.
        segment = torch.cat([resets.new_zeros(x.shape[0], history, dtype=torch.long), resets.cumsum(1)], 1)
        current = segment[:, history:]
        y = torch.zeros_like(x)
        for lag in range(self.size):
            same_segment = (segment[:, history - lag : history - lag + length] == current)[..., None]
            y = y + self.weight[:, lag] * padded[:, history - lag : history - lag + length] * same_segment
        keep = (segment[:, length:] == segment[:, -1:])[..., None]
        return y, padded[:, length:] * keep

    def step(self, x_t: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x_t (B, C), cache (B, size - 1, C) -> y_t (B, C), new cache."""
        window = torch.cat([cache, x_t[:, None]], dim=1)  # (B, size, C), oldest first
        y_t = (window * self.weight.flip(-1).transpose(0, 1)).sum(dim=1)
        return y_t, window[:, 1:]
