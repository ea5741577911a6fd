"""Associative scan of affine maps: every prefix of h_t = M_t h_{t-1} + e_t at O(log T) depth.

Composing two steps is again an affine map, (M₂, e₂) ∘ (M₁, e₁) = (M₂M₁, M₂e₁ + e₂), and the
composition is associative, so all prefixes come out of a parallel scan. This one is the
work-efficient odd/even form: compose neighbouring pairs (T/2 compositions, all at once), scan
the half-length sequence of pairs recursively, then fill in the even positions with one more
batched map application: about 2 log₂ T batched operations in all.

Two kinds of transition:

- dense, M_t: (D, D), composed at O(D³) (:func:`affine_scan`, general, and the test bench);
- identity plus a shared low-rank part, M_t = a_t I + U B_t Vᵀ with U, V: (D, r) the same for
  every step and a_t a scalar, B_t: (r, r) per step (:func:`low_rank_affine_scan`). These close
  under composition without growing, with C = VᵀU:

      (a₂ I + U B₂ Vᵀ)(a₁ I + U B₁ Vᵀ) = a₂a₁ I + U (a₂B₁ + a₁B₂ + B₂ C B₁) Vᵀ

  so a composition costs O(r³) and applying a map to a state O(D r): the whole scan does the same
  order of work as the plain loop, O(T D r).

:func:`sequential_affine` is the plain loop both are tested against.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

__all__ = ["affine_scan", "low_rank_affine_scan", "sequential_affine"]


def affine_scan(transitions: Tensor, offsets: Tensor, initial: Tensor) -> Tensor:
    """All states of h_t = M_t h_{t-1} + e_t.

    transitions M: (B, T, D, D); offsets e: (B, T, D); initial h_0: (B, D).
    Returns h_1 .. h_T as (B, T, D).
    """
    return _scan(_Dense(transitions), offsets, initial)


def low_rank_affine_scan(
    scale: Tensor, core: Tensor, left: Tensor, right: Tensor, offsets: Tensor, initial: Tensor
) -> Tensor:
    """All states of h_t = (a_t I + U B_t Vᵀ) h_{t-1} + e_t.

    scale a: (B, T); core B: (B, T, r, r); left U, right V: (D, r), shared by all steps;
    offsets e: (B, T, D); initial h_0: (B, D). Returns h_1 .. h_T as (B, T, D).
    """
    return _scan(_SharedLowRank(scale, core, left, right), offsets, initial)


def sequential_affine(transitions: Tensor, offsets: Tensor, initial: Tensor) -> Tensor:
    """The oracle: the same recurrence one step at a time. Shapes as :func:`affine_scan`."""
    state = initial
    states = []
    for transition, offset in zip(transitions.unbind(1), offsets.unbind(1)):
        state = (transition @ state[..., None])[..., 0] + offset
        states.append(state)
    if not states:
        return offsets
    return torch.stack(states, dim=1)


class _Maps(Protocol):
    """A batch of per-step linear maps, (B, T', ...)."""

    def take(self, index: slice) -> _Maps: ...
    def apply(self, states: Tensor) -> Tensor: ...  # (B, T', D) -> (B, T', D), map t on state t
    def then(self, later: _Maps) -> _Maps: ...  # step-wise composition: self first, then later


class _Dense:
    def __init__(self, matrices: Tensor) -> None:
        self.matrices = matrices

    def take(self, index: slice) -> _Dense:
        return _Dense(self.matrices[:, index])

    def apply(self, states: Tensor) -> Tensor:
        return (self.matrices @ states[..., None])[..., 0]

    def then(self, later: _Maps) -> _Dense:
        assert isinstance(later, _Dense)
        return _Dense(later.matrices @ self.matrices)


class _SharedLowRank:
    def __init__(self, scale: Tensor, core: Tensor, left: Tensor, right: Tensor) -> None:
        self.scale, self.core, self.left, self.right = scale, core, left, right

    def take(self, index: slice) -> _SharedLowRank:
        return _SharedLowRank(self.scale[:, index], self.core[:, index], self.left, self.right)

    def apply(self, states: Tensor) -> Tensor:
        projected = states @ self.right  # Vᵀh: (B, T', r)
        mixed = (self.core @ projected[..., None])[..., 0]  # B Vᵀh
        return self.scale[..., None] * states + mixed @ self.left.transpose(0, 1)

    def then(self, later: _Maps) -> _SharedLowRank:
        assert isinstance(later, _SharedLowRank)
        coupling = self.right.transpose(0, 1) @ self.left  # C = VᵀU: (r, r)
        core = (
            later.scale[..., None, None] * self.core
            + self.scale[..., None, None] * later.core
            + later.core @ coupling @ self.core
        )
        return _SharedLowRank(later.scale * self.scale, core, self.left, self.right)


def _scan(maps: _Maps, offsets: Tensor, initial: Tensor) -> Tensor:
    if offsets.shape[1] == 0:
        return offsets
    # fold h_0 into the first step, after which every prefix starts from zero
    first = maps.take(slice(0, 1)).apply(initial[:, None])
    offsets = torch.cat([offsets[:, :1] + first, offsets[:, 1:]], dim=1)
    return _scan_from_zero(maps, offsets)


def _scan_from_zero(maps: _Maps, offsets: Tensor) -> Tensor:
    length = offsets.shape[1]
    if length == 1:
        return offsets
    paired = length - length % 2
    earlier, later = maps.take(slice(0, paired, 2)), maps.take(slice(1, paired, 2))
    # each pair (2i, 2i+1) as one map; its scan gives the states at odd positions 1, 3, 5, ...
    pair_offsets = later.apply(offsets[:, 0:paired:2]) + offsets[:, 1:paired:2]
    odd_states = _scan_from_zero(earlier.then(later), pair_offsets)
    # even positions 2, 4, ... step once from the odd state before them; position 0 is e_0
    rest = maps.take(slice(2, None, 2)).apply(odd_states[:, : (length - 1) // 2])
    states = offsets.new_empty(offsets.shape)  # filled by slices: cheaper than cat + stack
    states[:, 0] = offsets[:, 0]
    states[:, 1::2] = odd_states
    states[:, 2::2] = rest + offsets[:, 2::2]
    return states
