"""Associative scan of affine maps: every prefix of h_t = M_t h_{t-1} + e_t at O(log T) depth.

Composing two steps is again an affine map, (M₂, e₂) ∘ (M₁, e₁) = (M₂M₁, M₂e₁ + e₂), and the
composition is associative, so all prefixes come out of a parallel scan. This one is the
work-efficient odd/even form: compose neighbouring pairs (T/2 compositions, all at once), scan
the half-length sequence of pairs recursively, then fill in the even positions with one more
batched map application: 2 log₂ T batched operations in all.

Transitions are kept diagonal-plus-low-rank, M = diag(a) + L Rᵀ with L, R: (D, m), while that is
cheaper than a dense D×D matrix: composing two such maps gives rank 2m,

    M₂M₁ = diag(a₂a₁) + [a₂⊙L₁, L₂] [R₁, a₁⊙R₂ + R₁(L₁ᵀR₂)]ᵀ

at O(D m²), and once 2m reaches D the maps turn dense (O(D³) per composition).
:func:`sequential_affine` is the plain loop both forms are tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["affine_scan", "low_rank_affine_scan", "sequential_affine"]

# A map is (M,) dense, (D, D) per step, or (a, L, R) diagonal plus low rank; e is kept apart.
Map = tuple[Tensor, ...]


def affine_scan(transitions: Tensor, offsets: Tensor, initial: Tensor) -> Tensor:
    """All states of h_t = M_t h_{t-1} + e_t.

    transitions M: (B, T, D, D); offsets e: (B, T, D); initial h_0: (B, D).
    Returns h_1 .. h_T as (B, T, D).
    """
    return _scan((transitions,), offsets, initial)


def low_rank_affine_scan(diagonal: Tensor, left: Tensor, right: Tensor, offsets: Tensor, initial: Tensor) -> Tensor:
    """All states of h_t = (diag(a_t) + L_t R_tᵀ) h_{t-1} + e_t.

    diagonal a: (B, T, D); left L, right R: (B, T, D, m); offsets e: (B, T, D); initial: (B, D).
    Returns h_1 .. h_T as (B, T, D).
    """
    return _scan((diagonal, left, right), offsets, initial)


def sequential_affine(transitions: Tensor, offsets: Tensor, initial: Tensor) -> Tensor:
    """The oracle: the same recurrence one step at a time. Shapes as :func:`affine_scan`."""
    state = initial
    states = []
    for t in range(offsets.shape[1]):
        state = (transitions[:, t] @ state[..., None])[..., 0] + offsets[:, t]
        states.append(state)
    if not states:
        return offsets
    return torch.stack(states, dim=1)


def _scan(maps: Map, offsets: Tensor, initial: Tensor) -> Tensor:
    if offsets.shape[1] == 0:
        return offsets
    # fold h_0 into the first step, after which every prefix starts from zero
    first = _apply(_take(maps, slice(0, 1)), initial[:, None])
    offsets = torch.cat([offsets[:, :1] + first, offsets[:, 1:]], dim=1)
    return _scan_from_zero(maps, offsets)


def _scan_from_zero(maps: Map, offsets: Tensor) -> Tensor:
    length = offsets.shape[1]
    if length == 1:
        return offsets
    paired = length - length % 2
    earlier, later = _take(maps, slice(0, paired, 2)), _take(maps, slice(1, paired, 2))
    # each pair (2i, 2i+1) as one map; its scan gives the states at odd positions 1, 3, 5, ...
    pair_offsets = _apply(later, offsets[:, 0:paired:2]) + offsets[:, 1:paired:2]
    odd_states = _scan_from_zero(_compose(later, earlier), pair_offsets)
    # even positions 2, 4, ... step once from the odd state before them; position 0 is e_0
    rest = _apply(_take(maps, slice(2, None, 2)), odd_states[:, : (length - 1) // 2])
    even_states = torch.cat([offsets[:, :1], rest + offsets[:, 2::2]], dim=1)
    states = torch.stack([even_states[:, : paired // 2], odd_states], dim=2).flatten(1, 2)
    if length % 2:
        states = torch.cat([states, even_states[:, -1:]], dim=1)
    return states


def _take(maps: Map, index: slice) -> Map:
    return tuple(part[:, index] for part in maps)


def _apply(maps: Map, states: Tensor) -> Tensor:
    """Apply per-step maps (B, T', ...) to states (B, T', D)."""
    if len(maps) == 1:
        return (maps[0] @ states[..., None])[..., 0]
    diagonal, left, right = maps
    return diagonal * states + (left @ (right.transpose(-1, -2) @ states[..., None]))[..., 0]


def _compose(later: Map, earlier: Map) -> Map:
    """The map "earlier, then later"."""
    if len(later) == 3 and 2 * later[1].shape[-1] >= later[1].shape[-2]:
        later, earlier = _dense(later), _dense(earlier)
    if len(later) == 1:
        return (later[0] @ earlier[0],)
    a2, left2, right2 = later
    a1, left1, right1 = earlier
    left = torch.cat([a2[..., None] * left1, left2], dim=-1)
    right = torch.cat([right1, a1[..., None] * right2 + right1 @ (left1.transpose(-1, -2) @ right2)], dim=-1)
    return a2 * a1, left, right


def _dense(maps: Map) -> Map:
    diagonal, left, right = maps
    return (torch.diag_embed(diagonal) + left @ right.transpose(-1, -2),)
