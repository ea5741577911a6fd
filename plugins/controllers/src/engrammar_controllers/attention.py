"""Causal multi-head attention over a key/value cache, with rotary position embeddings.

Shapes: queries ``(B, T, D)``, keys and values ``(B, S, D)`` with ``D = num_heads * head_size``,
``allowed`` ``(B, T, S)`` bool (true where query t may attend to key s). Rotary embeddings rotate
each pair ``(x_j, x_{j + head_size/2})`` of a head by the angle ``position * base^(-2j/head_size)``,
so attention scores depend on relative positions only.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def rotary_angles(positions: Tensor, head_size: int, base: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``cos``, ``sin`` of shape (B, T, head_size // 2) for integer ``positions`` (B, T)."""
    # Angles in float64: positions grow without bound, and in float32 an angle at position 10**7
    # would already be off by up to half a radian (the rotation would stop encoding relative offsets).
    angle_dtype = torch.float64
    exponents = torch.arange(0, head_size // 2, device=positions.device, dtype=angle_dtype) * (2.0 / head_size)
    inverse_frequency = base ** (-exponents)
    angles = positions.to(angle_dtype)[..., None] * inverse_frequency
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: Tensor, cos: Tensor, sin: Tensor, num_heads: int) -> Tensor:
    """Apply rotary embeddings to ``x`` (B, T, D) with ``cos``/``sin`` (B, T, head_size // 2)."""
    batch, length, width = x.shape
    heads = x.view(batch, length, num_heads, width // num_heads)
    first, second = heads.chunk(2, dim=-1)
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    rotated = torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return rotated.reshape(batch, length, width)


def attention(
    queries: Tensor, keys: Tensor, values: Tensor, allowed: Tensor, num_heads: int, dropout: float = 0.0
) -> Tensor:
    """Masked multi-head softmax attention through PyTorch's fused kernel. Returns (B, T, D)."""
    batch, length, width = queries.shape

    def heads(t: Tensor) -> Tensor:  # (B, L, D) -> (B, heads, L, head_size)
        return t.view(batch, t.shape[1], num_heads, width // num_heads).transpose(1, 2)

    mixed = F.scaled_dot_product_attention(
        heads(queries), heads(keys), heads(values), attn_mask=allowed[:, None], dropout_p=dropout
    )
    return mixed.transpose(1, 2).reshape(batch, length, width)
