"""Rotary position embeddings (Su et al., RoFormer, 2021), shared by every attention component.

Each pair ``(x_j, x_{j + K/2})`` of a head of width K is rotated by the angle
``position · base^(-2j/K)``, so a query–key score depends on the difference of their positions only.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rotary_angles", "rotate"]


def rotary_angles(positions: Tensor, head_dim: int, base: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``cos``, ``sin`` of shape (*positions.shape, head_dim // 2) for integer ``positions``."""
    # Angles in float64: positions grow without bound, and a float32 angle at position 10**7 would
    # already be off by up to half a radian.
    exponents = torch.arange(0, head_dim // 2, device=positions.device, dtype=torch.float64) * (2.0 / head_dim)
    angles = positions.to(torch.float64)[..., None] * base ** (-exponents)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """``x`` (..., K) rotated pairwise by ``cos``/``sin`` (..., K // 2), broadcast against ``x``."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
