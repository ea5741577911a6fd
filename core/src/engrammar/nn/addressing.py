"""Content addressing: a weighting over memory cells by cosine similarity to a key, sharpened by a
key strength β; and sharpening of any weighting by an exponent γ.

Symbols as in the NTM and DNC papers (Graves et al., 2014 and 2016): a memory M of N cells of
width W; K keys k with strengths β > 0; ε = :data:`NORM_EPSILON`::

    cosine[k, n]  = ⟨k, M_n⟩ / (√(|k|² + ε) · √(|M_n|² + ε))
    weights[k, n] = softmax_n(β_k · cosine[k, n])                 (each row sums to 1)
    sharpen(w, γ) = (w + ε_γ)^γ / Σ_n (w + ε_γ)^γ                  (γ ≥ 1; ε_γ = :data:`SHARPEN_EPSILON`)

ε keeps everything finite where a key or a cell is exactly zero (an empty memory): the cosine is
then 0 (the weighting uniform) and gradients stay finite, instead of 0/0.

Shapes are batch first and may carry any leading dimensions: memory (..., N, W), keys (..., K, W),
strength (..., K) -> weights (..., K, N). :func:`content_weights` is differentiable by autograd (to
any order). Memories whose step is one hand-written autograd function (the DNC's fused step) use
:func:`content_weights_forward` and :func:`content_weights_backward`: the same formula, with the
backward written out over what the forward kept.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "NORM_EPSILON",
    "SHARPEN_EPSILON",
    "ContentCache",
    "content_weights",
    "content_weights_backward",
    "content_weights_forward",
    "cosine_similarity",
    "sharpen",
]

#: Added under the square root of every norm: a zero key or cell has cosine 0, not 0/0.
NORM_EPSILON = 1e-6
#: Added before w^γ: keeps d/dγ (which has a log w factor) finite where w is exactly 0.
SHARPEN_EPSILON = 1e-12


#: What :func:`content_weights_forward` keeps for :func:`content_weights_backward`, in this order:
#: scores (..., K, N) = β · cosine, the softmax's input; factor (..., K, N) = β / (|k| |M_n|);
#: inverse key norms (..., K) = 1 / √(|k|² + ε); inverse cell norms (..., N) = 1 / √(|M_n|² + ε).
#: A plain tuple: it is built at every step of a fused memory, where a named tuple costs more.
ContentCache = tuple[Tensor, Tensor, Tensor, Tensor]


def _dots(keys: Tensor, memory: Tensor) -> Tensor:
    """⟨k, M_n⟩ for every key and cell: (..., K, W), (..., N, W) -> (..., K, N)."""
    if keys.dim() == 3 and memory.dim() == 3:
        return torch.bmm(keys, memory.transpose(1, 2))  # the common case, without matmul's dispatch
    return torch.matmul(keys, memory.transpose(-1, -2))


def cosine_similarity(memory: Tensor, keys: Tensor, *, epsilon: float | Tensor = NORM_EPSILON) -> Tensor:
    """cos(k, M_n) with ε-guarded norms. memory (..., N, W), keys (..., K, W) -> (..., K, N) in [-1, 1]."""
    inverse_key_norms = torch.rsqrt(torch.linalg.vecdot(keys, keys) + epsilon)
    inverse_cell_norms = torch.rsqrt(torch.linalg.vecdot(memory, memory) + epsilon)
    return _dots(keys, memory) * inverse_key_norms.unsqueeze(-1) * inverse_cell_norms.unsqueeze(-2)


def content_weights_forward(
    memory: Tensor, keys: Tensor, strength: Tensor, epsilon: float | Tensor = NORM_EPSILON
) -> tuple[Tensor, ContentCache]:
    """:func:`content_weights` and the :class:`ContentCache` its hand-written backward needs.

    ``epsilon`` may be a 0-dim tensor of ``memory``'s dtype (a fused step keeps its constants as
    tensors: a Python float is wrapped into a fresh tensor on every call).
    """
    inverse_key_norms = torch.rsqrt(torch.linalg.vecdot(keys, keys) + epsilon)
    inverse_cell_norms = torch.rsqrt(torch.linalg.vecdot(memory, memory) + epsilon)
    # β / |k| folded first: one (..., K, 1) factor, then one full-size product
    factor = (strength * inverse_key_norms).unsqueeze(-1) * inverse_cell_norms.unsqueeze(-2)
    scores = _dots(keys, memory) * factor
    weights = torch.softmax(scores, dim=-1)
    return weights, (scores, factor, inverse_key_norms, inverse_cell_norms)


def content_weights(
    memory: Tensor, keys: Tensor, strength: Tensor, *, epsilon: float | Tensor = NORM_EPSILON
) -> Tensor:
    """Content addressing: softmax over cells of β · cos(k, M_n).

    memory (..., N, W), keys (..., K, W), strength β (..., K) -> weights (..., K, N); each row sums
    to 1. β = 0 gives the uniform weighting; a large β focuses on the most similar cell.
    """
    return content_weights_forward(memory, keys, strength, epsilon)[0]


def content_weights_backward(
    grad_weights: Tensor, weights: Tensor, memory: Tensor, keys: Tensor, strength: Tensor, cache: ContentCache
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`content_weights` with respect to memory, keys and strength, given
    d loss / d weights. Batch-3-D inputs (the form a fused step holds): grad_weights, weights
    (B, K, N), memory (B, N, W), keys (B, K, W), strength (B, K) -> (B, N, W), (B, K, W), (B, K).

    With z = β · ik · im · ⟨k, M_n⟩ (ik, im the inverse norms), each of β, ik, im enters z as a
    factor, so their gradients are read off Σ dz · z; the norms' own gradients follow from
    d ik / d k = -ik³ k.
    """
    scores, factor, inverse_key_norms, inverse_cell_norms = cache
    grad_scores = weights * (grad_weights - (grad_weights * weights).sum(-1, keepdim=True))  # softmax backward
    weighted = grad_scores * scores
    per_key, per_cell = weighted.sum(-1), weighted.sum(1)
    grad_dots = grad_scores * factor
    # d/dk of z: grad_dots M - (Σ_n dz z) ik² k; d/dM_n likewise, by symmetry
    grad_keys = torch.baddbmm(keys * (per_key * inverse_key_norms.square()).unsqueeze(2), grad_dots, memory, beta=-1)
    grad_memory = torch.baddbmm(
        memory * (per_cell * inverse_cell_norms.square()).unsqueeze(2), grad_dots.transpose(1, 2), keys, beta=-1
    )
    return grad_memory, grad_keys, per_key / strength


def sharpen(weights: Tensor, gamma: Tensor, *, keep_mass: bool = False, epsilon: float = SHARPEN_EPSILON) -> Tensor:
    """Raise a weighting to the power γ ≥ 1 and renormalise: peaks grow, the rest fades.

    weights (..., K, N) ≥ 0, gamma (..., K) -> (..., K, N). Rows sum to 1 (the NTM's sharpening),
    or with ``keep_mass`` to each row's original total (a DNC write weighting, whose total is the
    write gate). γ = 1 leaves a weighting that already sums to 1 unchanged (up to ε).
    """
    powered = (weights + epsilon).pow(gamma.unsqueeze(-1))
    if keep_mass:
        return powered * (weights.sum(-1, keepdim=True) / powered.sum(-1, keepdim=True))
    return powered / powered.sum(-1, keepdim=True)
