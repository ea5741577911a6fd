"""NTM addressing, vectorised over batch and heads (the fast path).

Graves, Wayne, Danihelka, "Neural Turing Machines", 2014, section 3.3. Symbols as in the paper:
N memory cells of width W; for each head a key k with strength β, an interpolation gate g, a shift
distribution s over offsets -S..S, and a sharpening exponent γ ≥ 1:

    w_c = softmax(β cos(k, M_i))        content
    w_g = g w_c + (1 - g) w_{t-1}       interpolation
    w̃[i] = Σ_k w_g[(i - k) mod N] s[k]  circular shift (s[k]: probability of moving by +k)
    w = w̃^γ / Σ w̃^γ                    sharpening

Every function is pure and has a step-by-step twin in :mod:`engrammar_ntm.naive`, its test oracle.
Shapes are batch first: memory (B, N, W), weights (B, K, N) for K heads.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "NORM_EPSILON",
    "SHARPEN_EPSILON",
    "address",
    "content_weights",
    "interpolate",
    "read_memory",
    "sharpen",
    "shift",
    "write_memory",
]

#: Added under the square root of every norm of content addressing: a zero cell (the initial
#: memory) has similarity 0 with every key instead of 0/0.
NORM_EPSILON = 1e-6
#: Added before w̃^γ: keeps d/dγ (which has a log w̃ factor) finite where w̃ is exactly 0.
SHARPEN_EPSILON = 1e-12


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """softmax over cells of β · cosine(key, cell). memory (B, N, W), keys (B, K, W),
    strengths (B, K) -> (B, K, N)."""
    dots = torch.einsum("bkw,bnw->bkn", keys, memory)
    key_norms = torch.sqrt(keys.pow(2).sum(-1) + NORM_EPSILON)
    cell_norms = torch.sqrt(memory.pow(2).sum(-1) + NORM_EPSILON)
    similarity = dots / (key_norms[:, :, None] * cell_norms[:, None, :])
    return torch.softmax(strengths[:, :, None] * similarity, dim=-1)


def interpolate(content: Tensor, previous: Tensor, gates: Tensor) -> Tensor:
    """g w_c + (1 - g) w_prev. content, previous (B, K, N), gates (B, K) -> (B, K, N)."""
    g = gates[:, :, None]
    return g * content + (1.0 - g) * previous


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


def sharpen(weights: Tensor, gamma: Tensor) -> Tensor:
    """w^γ / Σ w^γ. weights (B, K, N), gamma (B, K) -> (B, K, N), rows sum to 1."""
    powered = (weights + SHARPEN_EPSILON).pow(gamma[:, :, None])
    return powered / powered.sum(-1, keepdim=True)


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


def write_memory(memory: Tensor, weights: Tensor, erase_vectors: Tensor | None, add_vectors: Tensor) -> Tensor:
    """Erase then add, for H write heads: M ∘ Π_h (1 - w_h e_hᵀ) + Σ_h w_h a_hᵀ.
    memory (B, N, W), weights (B, H, N), erase_vectors (B, H, W) or None, add_vectors (B, H, W)."""
    if erase_vectors is not None:
        keep = 1.0 - weights[:, :, :, None] * erase_vectors[:, :, None, :]
        memory = memory * (keep[:, 0] if keep.shape[1] == 1 else torch.prod(keep, dim=1))
    return memory + torch.einsum("bhn,bhw->bnw", weights, add_vectors)


def read_memory(memory: Tensor, weights: Tensor) -> Tensor:
    """r = wᵀ M. memory (B, N, W), weights (B, R, N) -> (B, R, W)."""
    return torch.bmm(weights, memory)
