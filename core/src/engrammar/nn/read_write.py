"""Reading a memory matrix through weightings, and writing it by erase then add (the NTM and DNC
write rule).

A memory M of N cells of width W; R read or H write heads, each with a weighting w over the cells::

    read:   r_r = Σ_n w_r[n] M_n                                   (a weighted sum of cells)
    write:  M' = M ∘ Π_h (1 - w_h e_hᵀ) + Σ_h w_h a_hᵀ              (erase e_h ∈ [0, 1]^W, add a_h)

Shapes are batch first: memory (B, N, W), weights (B, heads, N), vectors (B, heads, W).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["read_memory", "write_memory"]


def read_memory(memory: Tensor, weights: Tensor) -> Tensor:
    """Read vectors r = wᵀ M. memory (B, N, W), weights (B, R, N) -> (B, R, W)."""
    return torch.bmm(weights, memory)


def write_memory(memory: Tensor, weights: Tensor, erase_vectors: Tensor | None, add_vectors: Tensor) -> Tensor:
    """Erase then add, for H write heads: M ∘ Π_h (1 - w_h e_hᵀ) + Σ_h w_h a_hᵀ.

    memory (B, N, W), weights (B, H, N), erase_vectors (B, H, W) or None (add only),
    add_vectors (B, H, W) -> the new memory (B, N, W); no input is modified.
    """
    columns = weights.transpose(1, 2)  # (B, N, H)
    if erase_vectors is None:
        return torch.baddbmm(memory, columns, add_vectors)
    if weights.shape[1] == 1:
        # both outer products w eᵀ and w aᵀ from one bmm: M - M ∘ (w eᵀ) + w aᵀ
        width = memory.shape[-1]
        outer = torch.bmm(columns, torch.cat([erase_vectors, add_vectors], dim=-1))
        erased = torch.addcmul(memory, memory, outer[..., :width], value=-1.0)
        return erased + outer[..., width:]
    for head_weights, erase in zip(weights.unbind(1), erase_vectors.unbind(1)):
        memory = torch.addcmul(memory, memory, head_weights[:, :, None] * erase[:, None, :], value=-1.0)
    return torch.baddbmm(memory, columns, add_vectors)
