"""DNC memory addressing, vectorised over batch and heads (the fast path).

Graves et al., "Hybrid computing using a neural network with dynamic external memory", Nature 2016.
Symbols, as in the paper: N memory cells (``memory_size``) of width W (``word_size``), R read heads,
H write heads; β is a key strength (content sharpness), γ an optional sharpening exponent.

Every function is pure (new tensors, no in-place edits of its inputs) and has a step-by-step twin of
the same name in :mod:`engrammar_dnc.naive`, its test oracle. Shapes are batch first:

    memory (B, N, W)   usage (B, N)   link (B, H, N, N)   precedence (B, H, N)
    read_weights (B, R, N)   write_weights (B, H, N)

Link convention: ``link[b, h, i, j]`` is the degree to which cell i was written (by head h) right
after cell j, so ``link @ w`` moves a weighting forward in write order.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ALLOCATION_EPSILON",
    "NORM_EPSILON",
    "allocation_weights",
    "content_weights",
    "directional_weights",
    "read_memory",
    "sharpen_keep_mass",
    "update_link",
    "update_precedence",
    "update_usage",
    "write_allocation_weights",
    "write_memory",
]

#: Added under the square root of every norm of content addressing, so a zero word or key gives
#: similarity 0 (and finite gradients) instead of 0/0.
NORM_EPSILON = 1e-6
#: Usage is mapped to ``ε + (1 - ε) u`` before allocation, so a fully used memory still yields a
#: (tiny) allocation and the cumulative product stays differentiable (the DeepMind convention).
ALLOCATION_EPSILON = 1e-6


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """Content addressing: softmax over cells of β · cosine(key, cell).

    memory (B, N, W), keys (B, K, W), strengths β (B, K) -> weights (B, K, N), each row sums to 1.
    """
    dots = torch.einsum("bkw,bnw->bkn", keys, memory)
    key_norms = torch.sqrt(keys.pow(2).sum(-1) + NORM_EPSILON)  # (B, K)
    cell_norms = torch.sqrt(memory.pow(2).sum(-1) + NORM_EPSILON)  # (B, N)
    similarity = dots / (key_norms[:, :, None] * cell_norms[:, None, :])
    return torch.softmax(strengths[:, :, None] * similarity, dim=-1)


def update_usage(
    usage: Tensor, previous_write_weights: Tensor, free_gates: Tensor, previous_read_weights: Tensor
) -> Tensor:
    """Usage after last step's writes, minus what the free gates release.

    u = (u + w - u ∘ w) ∘ ψ with w = 1 - Π_h (1 - w_h) the combined last write weighting and
    ψ = Π_r (1 - f_r w_r) the retention vector. usage (B, N), previous_write_weights (B, H, N),
    free_gates (B, R), previous_read_weights (B, R, N) -> (B, N).
    """
    written = 1.0 - torch.prod(1.0 - previous_write_weights, dim=1)
    usage = usage + (1.0 - usage) * written
    retention = torch.prod(1.0 - free_gates[:, :, None] * previous_read_weights, dim=1)
    return usage * retention


def allocation_weights(usage: Tensor) -> Tensor:
    """Allocation weighting: the least used cells first.

    With φ the cells sorted by increasing usage, a[φ_j] = (1 - u[φ_j]) Π_{i<j} u[φ_i].
    One batched (stable) sort for all samples. usage (B, N) -> (B, N), sums to at most 1.
    """
    usage = ALLOCATION_EPSILON + (1.0 - ALLOCATION_EPSILON) * usage
    sorted_usage, order = torch.sort(usage, dim=-1, stable=True)
    ones = torch.ones_like(sorted_usage[..., :1])
    used_before = torch.cumprod(torch.cat([ones, sorted_usage[..., :-1]], dim=-1), dim=-1)
    sorted_allocation = (1.0 - sorted_usage) * used_before
    return torch.zeros_like(usage).scatter(-1, order, sorted_allocation)


def write_allocation_weights(usage: Tensor, write_gates: Tensor) -> Tensor:
    """Allocation weightings of H write heads that allocate one after the other.

    Head h allocates from the usage left after heads < h claimed their cells (in proportion to
    their write gate, which here is write gate × allocation gate). usage (B, N), write_gates (B, H)
    -> (B, H, N). One batched sort per write head: heads depend on each other's claims.
    """
    allocations = []
    for head in range(write_gates.shape[1]):
        allocation = allocation_weights(usage)
        allocations.append(allocation)
        usage = usage + (1.0 - usage) * write_gates[:, head, None] * allocation
    return torch.stack(allocations, dim=1)


def sharpen_keep_mass(weights: Tensor, gamma: Tensor) -> Tensor:
    """Raise a weighting to the power γ ≥ 1 and renormalise to its original total mass.

    weights (B, K, N), gamma (B, K) -> (B, K, N). γ = 1 is the identity.
    """
    powered = (weights + 1e-12).pow(gamma[:, :, None])
    mass = weights.sum(-1, keepdim=True)
    return powered * (mass / powered.sum(-1, keepdim=True))


def write_memory(memory: Tensor, write_weights: Tensor, erase_vectors: Tensor | None, write_vectors: Tensor) -> Tensor:
    """Erase then add: M = M ∘ Π_h (1 - w_h e_hᵀ) + Σ_h w_h v_hᵀ.

    memory (B, N, W), write_weights (B, H, N), erase_vectors (B, H, W) or None (no erasure),
    write_vectors (B, H, W) -> (B, N, W).
    """
    if erase_vectors is not None:
        keep = 1.0 - write_weights[:, :, :, None] * erase_vectors[:, :, None, :]  # (B, H, N, W)
        memory = memory * (keep[:, 0] if keep.shape[1] == 1 else torch.prod(keep, dim=1))
    return memory + torch.einsum("bhn,bhw->bnw", write_weights, write_vectors)


def update_link(link: Tensor, precedence: Tensor, write_weights: Tensor) -> Tensor:
    """Temporal link update, per write head, with a zero diagonal.

    L[i, j] = (1 - w[i] - w[j]) L[i, j] + w[i] p[j], using the precedence p *before* this write.
    link (B, H, N, N), precedence (B, H, N), write_weights (B, H, N) -> (B, H, N, N).
    """
    write_i = write_weights[..., :, None]
    write_j = write_weights[..., None, :]
    link = (1.0 - write_i - write_j) * link + write_i * precedence[..., None, :]
    size = link.shape[-1]
    off_diagonal = 1.0 - torch.eye(size, dtype=link.dtype, device=link.device)
    return link * off_diagonal


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    """p = (1 - Σ_i w[i]) p + w. precedence, write_weights (B, H, N) -> (B, H, N)."""
    return (1.0 - write_weights.sum(-1, keepdim=True)) * precedence + write_weights


def directional_weights(link: Tensor, previous_read_weights: Tensor) -> tuple[Tensor, Tensor]:
    """Forward (L w) and backward (Lᵀ w) weightings of every read head through every write head's
    link. link (B, H, N, N), previous_read_weights (B, R, N) -> (forward, backward), each (B, R, H, N).
    """
    forward = torch.einsum("bhij,brj->brhi", link, previous_read_weights)
    backward = torch.einsum("bhji,brj->brhi", link, previous_read_weights)
    return forward, backward


def read_memory(memory: Tensor, read_weights: Tensor) -> Tensor:
    """Read vectors r = wᵀ M. memory (B, N, W), read_weights (B, R, N) -> (B, R, W)."""
    return torch.bmm(read_weights, memory)
