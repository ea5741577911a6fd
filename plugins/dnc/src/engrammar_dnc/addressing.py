"""DNC memory addressing, vectorised over batch and heads (the fast path).

Graves et al., "Hybrid computing using a neural network with dynamic external memory", Nature 2016.
Symbols, as in the paper: N memory cells (``memory_size``) of width W (``word_size``), R read heads,
H write heads; β is a key strength (content sharpness), γ an optional sharpening exponent.

What the DNC shares with other memories (content addressing with β, sharpening with γ, reading,
erase-then-add writing) is core's :mod:`engrammar.nn`; this module holds what is the DNC's own:
usage, allocation, temporal links and the mixing of read modes. Every function is pure (new
tensors, no in-place edits of its inputs) and has a step-by-step twin of the same name in
:mod:`engrammar_dnc.naive`, its test oracle. Shapes are batch first:

    memory (B, N, W)   usage (B, N)   link (B, H, N, N)   precedence (B, H, N)
    read_weights (B, R, N)   write_weights (B, H, N)

Link convention: ``link[b, h, i, j]`` is the degree to which cell i was written (by head h) right
after cell j, so ``link @ w`` moves a weighting forward in write order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ALLOCATION_EPSILON",
    "allocation_weights",
    "directional_weights",
    "free_list",
    "read_weightings",
    "tie_resolution",
    "update_link",
    "update_precedence",
    "update_usage",
    "write_allocation_weights",
]

#: Usage is mapped to ``ε + (1 - ε) u`` before allocation, so a fully used memory still yields a
#: (tiny) allocation and the cumulative product stays differentiable (the DeepMind convention).
ALLOCATION_EPSILON = 1e-6


def update_usage(
    usage: Tensor, previous_write_weights: Tensor, free_gates: Tensor, previous_read_weights: Tensor
) -> Tensor:
    """Usage after last step's writes, minus what the free gates release.

    u = (u + w - u ∘ w) ∘ ψ with w = 1 - Π_h (1 - w_h) the combined last write weighting and
    ψ = Π_r (1 - f_r w_r) the retention vector. usage (B, N), previous_write_weights (B, H, N),
    free_gates (B, R), previous_read_weights (B, R, N) -> (B, N).
    """
    # Fused forms (addcmul: a + v·b·c) keep the step to a few kernels: u + w - u w per write head
    # (which composes to u + (1 - u)(1 - Π(1 - w_h))), then u - u f_r w_r per read head.
    for written in previous_write_weights.unbind(1):
        usage = torch.addcmul(usage + written, usage, written, value=-1.0)
    for freed in (free_gates[:, :, None] * previous_read_weights).unbind(1):
        usage = torch.addcmul(usage, usage, freed, value=-1.0)
    return usage


def tie_resolution(dtype: torch.dtype) -> float:
    """Usages closer than about 1 / this are treated as tied when ordering the free list.

    Cells that were never written have usages equal in exact arithmetic but not in floating point:
    a last-bit difference (vectorised vs scalar kernels, or a batch-size-dependent matmul blocking
    upstream) would otherwise decide which cell is allocated, so a sample's result could depend on
    its batch. Rounding the sort key to this grid (far above rounding noise, far below any usage
    difference that matters) makes such ties resolve by cell index, deterministically.
    """
    return 2.0**32 if dtype == torch.float64 else 2.0**16


def free_list(usage: Tensor) -> Tensor:
    """Cell indices by increasing usage, near-ties (see :func:`tie_resolution`) by index.
    usage (B, N) -> (B, N) int64. One batched stable sort."""
    return torch.argsort(torch.round(usage * tie_resolution(usage.dtype)), dim=-1, stable=True)


def allocation_weights(usage: Tensor) -> Tensor:
    """Allocation weighting: the least used cells first.

    With φ the cells sorted by increasing usage, a[φ_j] = (1 - u[φ_j]) Π_{i<j} u[φ_i].
    One batched (stable) sort for all samples. usage (B, N) -> (B, N), sums to at most 1.
    """
    usage = usage * (1.0 - ALLOCATION_EPSILON) + ALLOCATION_EPSILON
    order = free_list(usage)
    sorted_usage = usage.gather(-1, order)
    used_before = F.pad(torch.cumprod(sorted_usage[..., :-1], dim=-1), (1, 0), value=1.0)
    sorted_allocation = torch.addcmul(used_before, sorted_usage, used_before, value=-1.0)  # (1 - u) Π
    # order is a permutation: the scatter writes every entry, so an uninitialised target is fine
    return torch.empty_like(usage).scatter(-1, order, sorted_allocation)


def write_allocation_weights(usage: Tensor, write_gates: Tensor) -> Tensor:
    """Allocation weightings of H write heads that allocate one after the other.

    Head h allocates from the usage left after heads < h claimed their cells (in proportion to
    their write gate, which here is write gate × allocation gate). usage (B, N), write_gates (B, H)
    -> (B, H, N). One batched sort per write head: heads depend on each other's claims.
    """
    if write_gates.shape[1] == 1:
        return allocation_weights(usage)[:, None]
    allocations = []
    for head in range(write_gates.shape[1]):
        allocation = allocation_weights(usage)
        allocations.append(allocation)
        claimed = write_gates[:, head, None] * allocation
        usage = torch.addcmul(usage + claimed, usage, claimed, value=-1.0)
    return torch.stack(allocations, dim=1)


def update_link(link: Tensor, precedence: Tensor, write_weights: Tensor) -> Tensor:
    """Temporal link update, per write head, with a zero diagonal.

    L[i, j] = (1 - w[i] - w[j]) L[i, j] + w[i] p[j], using the precedence p *before* this write.
    link (B, H, N, N), precedence (B, H, N), write_weights (B, H, N) -> (B, H, N, N).
    """
    write_i = write_weights[..., :, None]
    write_j = write_weights[..., None, :]
    link = torch.addcmul(link, write_i + write_j, link, value=-1.0)
    link = torch.addcmul(link, write_i, precedence[..., None, :])
    # a fresh intermediate (not saved by autograd), so zeroing its diagonal in place is safe
    link.diagonal(dim1=-2, dim2=-1).zero_()
    return link


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    """p = (1 - Σ_i w[i]) p + w. precedence, write_weights (B, H, N) -> (B, H, N)."""
    return torch.addcmul(precedence + write_weights, write_weights.sum(-1, keepdim=True), precedence, value=-1.0)


def directional_weights(link: Tensor, previous_read_weights: Tensor) -> Tensor:
    """Backward (Lᵀ w) and forward (L w) weightings of every read head through every write head's
    link, stacked: link (B, H, N, N), previous_read_weights (B, R, N) -> (B, R, 2H, N), entries
    [:, :, :H] backward (one per write head), [:, :, H:] forward.
    """
    batch, heads, cells, _ = link.shape
    reads = previous_read_weights.shape[1]
    # backward[b, r, h, i] = Σ_j w[b, r, j] L[b, h, j, i]; forward[b, r, h, i] = Σ_j w[b, r, j] L[b, h, i, j]:
    # both from one bmm against [L arranged (j, h·i) | Lᵀ arranged (j, h·i)]
    by_rows = link.permute(0, 2, 1, 3).reshape(batch, cells, heads * cells)
    by_columns = link.permute(0, 3, 1, 2).reshape(batch, cells, heads * cells)
    both = torch.bmm(previous_read_weights, torch.cat([by_rows, by_columns], dim=-1))
    return both.reshape(batch, reads, 2 * heads, cells)


def read_weightings(directional: Tensor, content: Tensor, modes: Tensor) -> Tensor:
    """Mix each read head's modes: directional (B, R, 2H, N), content (B, R, N), modes (B, R, 2H + 1)
    -> (B, R, N) = `Σ_m modes[m] · (directional..., content)[m]`."""
    candidates = torch.cat([directional, content[:, :, None]], dim=2)  # (B, R, 2H + 1, N)
    return torch.matmul(modes[:, :, None, :], candidates)[:, :, 0]
