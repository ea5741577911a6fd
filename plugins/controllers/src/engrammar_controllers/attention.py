"""Causal multi-head attention over a key/value cache, with rotary position embeddings.

Shapes: queries ``(B, T, D)``, keys and values ``(B, S, D)`` with ``D = num_heads * head_size``,
``allowed`` ``(B, T, S)`` bool (true where query t may attend to key s). Rotary embeddings rotate
each pair ``(x_j, x_{j + head_size/2})`` of a head by the angle ``position * base^(-2j/head_size)``,
so attention scores depend on relative positions only (the rotation itself is
``engrammar.nn.rotate``, shared with the attention memories).
"""

from __future__ import annotations

from engrammar.nn import rotate as rotate_pairs
from torch import Tensor
from torch.nn import functional as F


def rotate(x: Tensor, cos: Tensor, sin: Tensor, num_heads: int) -> Tensor:
    """Apply rotary embeddings to ``x`` (B, T, D) with ``cos``/``sin`` (B, T, head_size // 2)."""
    batch, length, width = x.shape
    heads = x.view(batch, length, num_heads, width // num_heads)
    return rotate_pairs(heads, cos[:, :, None, :], sin[:, :, None, :]).reshape(batch, length, width)


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
