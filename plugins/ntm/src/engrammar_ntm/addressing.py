"""NTM addressing, vectorised over batch and heads (the fast path).

Graves, Wayne, Danihelka, "Neural Turing Machines", 2014, section 3.3. Symbols as in the paper:
N memory cells of width W; for each head a key k with strength β, an interpolation gate g, a shift
distribution s over offsets -S..S, and a sharpening exponent γ ≥ 1:

    w_c = softmax(β cos(k, M_i))        content              (core's engrammar.nn.content_weights)
    w_g = g w_c + (1 - g) w_{t-1}       interpolation
    w̃[i] = Σ_k w_g[(i - k) mod N] s[k]  circular shift (s[k]: probability of moving by +k)
    w = w̃^γ / Σ w̃^γ                    sharpening           (core's engrammar.nn.sharpen)

The functions here are pure; their test oracle is :func:`engrammar_ntm.naive.naive_memory_step`,
written independently from the paper's equations. Shapes are batch first: memory (B, N, W),
weights (B, K, N) for K heads.
"""

from __future__ import annotations

import torch
from engrammar.nn import content_weights, sharpen
from torch import Tensor

__all__ = ["address", "interpolate", "shift"]


def interpolate(content: Tensor, previous: Tensor, gates: Tensor) -> Tensor:
    """g w_c + (1 - g) w_prev. content, previous (B, K, N), gates (B, K) -> (B, K, N)."""
    return torch.lerp(previous, content, gates[:, :, None])


def shift(weights: Tensor, shifts: Tensor) -> Tensor:
    """Circular convolution with a distribution over offsets -S..S.

    weights (B, K, N), shifts (B, K, 2S + 1) (entry j is offset j - S) -> (B, K, N). One gather
    over a (N, 2S + 1) index table, then a weighted sum: no loop over cells.
    """
    cells, width = weights.shape[-1], shifts.shape[-1]
    offsets = torch.arange(width, device=weights.device) - width // 2
    index = (torch.arange(cells, device=weights.device)[:, None] - offsets[None, :]) % cells  # (N, 2S+1)
    gathered = weights[..., index]  # (B, K, N, 2S + 1): w[(i - k) mod N]
    return (gathered * shifts[:, :, None, :]).sum(-1)


def address(
    memory: Tensor,
    previous: Tensor,
    keys: Tensor,
    strengths: Tensor,
    gates: Tensor,
    shifts: Tensor,
    gamma: Tensor,
) -> Tensor:
    """The whole NTM addressing pipeline for K heads: content, interpolation, shift, sharpening.
    memory (B, N, W), previous (B, K, N), keys (B, K, W), strengths, gates, gamma (B, K),
    shifts (B, K, 2S + 1) -> weights (B, K, N)."""
    weights = interpolate(content_weights(memory, keys, strengths), previous, gates)
    return sharpen(shift(weights, shifts), gamma)
