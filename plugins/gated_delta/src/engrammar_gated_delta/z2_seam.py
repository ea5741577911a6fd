"""``z2_seam``: the seam-gated Z2-symmetric RNN of the seam-gated networks write-up (its baseline).

Hidden width D (even), h split in halves (a, b); S swaps the halves, P₋ = (I − S) / 2:

    α(h) = ‖P₋ h‖² / (‖h‖² + ε) = ‖a − b‖² / (2 (‖h‖² + ε))     parity energy, in [0, 1)
    g(h) = sigmoid((α(h) − k*) / τ)                             seam gate: opens as α crosses k*
    h_t = tanh(W_comm h_{t−1} + W_in x_t + g(h_{t−1}) S W_flip h_{t−1})
    W_comm = P₊ A₊ P₊ + P₋ A₋ P₋                                commutes with S

k* (``k_star``) defaults to 1 / (2 ln 2) ≈ 0.7213 and τ (``temperature``) to 0.05. The update has no
bias, tanh is odd and α is even, so the unit is exactly odd: model(−x, −h₀) = −model(x, h₀).

:func:`.ops.seam_naive.naive_z2_seam` is the literal definition (every matrix formed at every
step); this module is the fast path, tested against it: W_comm and S W_flip are formed once per
call and stacked into one (2D, D) matrix, the input projection runs once for the whole sequence,
and α is taken from the halves directly. The recurrence itself (g depends on h) stays a loop.

The output is h_t (B, T, D). With a recording open (``engrammar.recording(model, traces=True)``) the
unit reports, per step, ``parity_energy`` α(h_{t−1}) and ``gate`` g(h_{t−1}), each (B, T).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from engrammar.component import Component
from engrammar.recorder import is_tracing, report_trace
from engrammar.spec import ComponentSpec, _RuleBroken, between, field, ge, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .ops.seam_naive import PARITY_EPSILON

__all__ = ["K_STAR", "Z2Seam", "Z2SeamSpec", "parity_energy"]

#: the write-up's critical parity energy, 1 / (2 ln 2) ≈ 0.721347520444
K_STAR = 1.0 / (2.0 * math.log(2.0))


@spec
class Z2SeamSpec(ComponentSpec):
    hidden_size: int = field(
        default=64, validator=ge(2), doc="width D of the hidden state, even (the seed's hidden_dim)"
    )
    temperature: float = field(default=0.05, validator=gt(0.0), doc="softness τ of the seam gate sigmoid((α − k*) / τ)")
    k_star: float = field(
        default=K_STAR, validator=between(0.0, 1.0), doc="parity energy at which the seam gate is half open"
    )
    orthogonal_flip: bool = field(default=False, doc="start W_flip as a random orthogonal matrix (else N(0, 0.1²))")

    def __attrs_post_init__(self) -> None:
        if self.hidden_size % 2:
            raise _RuleBroken(
                "hidden_size", f"must be even (two halves swapped by the involution), got {self.hidden_size}"
            )


def parity_energy(hidden: Tensor) -> Tensor:
    """α(h) = ‖P₋ h‖² / (‖h‖² + ε) for the involution that swaps the halves of h: hidden (..., D),
    D even -> (...), in [0, 1). 0 for an even h (halves equal), → 1 for an odd one (halves opposite);
    α(λh) = α(h) up to ε, and α(−h) = α(h) exactly."""
    half = hidden.shape[-1] // 2
    odd = 0.5 * (hidden[..., :half] - hidden[..., half:]).square().sum(-1)  # ‖P₋h‖² = ‖a − b‖² / 2
    return odd / (hidden.square().sum(-1) + PARITY_EPSILON)


class Z2Seam(Component):
    """Seam-gated Z2-symmetric RNN: odd tanh update, a seam gate that opens when the parity energy crosses k*."""

    spec_cls = Z2SeamSpec
    spec: Z2SeamSpec

    def __init__(self, spec: Z2SeamSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        size = self.spec.hidden_size
        self.a_plus = nn.Parameter(torch.randn(size, size) * 0.1)  # A₊, seen through P₊
        self.a_minus = nn.Parameter(torch.randn(size, size) * 0.1)  # A₋, seen through P₋
        if self.spec.orthogonal_flip:
            self.w_flip = nn.Parameter(torch.linalg.qr(torch.randn(size, size))[0])
        else:
            self.w_flip = nn.Parameter(torch.randn(size, size) * 0.1)
        self.input_proj = nn.Linear(self.in_features, size, bias=False)  # W_in, no bias: the update stays odd

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        return {"hidden": StateEntry((self.spec.hidden_size,), doc="hidden state h")}

    # ---- weights, formed once per call -------------------------------------------------------

    def commuting_weight(self) -> Tensor:
        """W_comm = P₊ A₊ P₊ + P₋ A₋ P₋ (D, D), with P± = (I ± S) / 2 written as half-swaps."""
        return _project(self.a_plus, 1.0) + _project(self.a_minus, -1.0)

    def seam_weight(self) -> Tensor:
        """S W_flip (D, D): W_flip with its two halves of rows swapped."""
        return _swap_halves(self.w_flip, dim=0)

    def _recurrent_weight(self) -> Tensor:
        """[W_comm; S W_flip] transposed, (D, 2D): one matmul gives both recurrent terms."""
        return torch.cat([self.commuting_weight(), self.seam_weight()], dim=0).transpose(0, 1)

    # ---- paths -----------------------------------------------------------------------------

    def _gate(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        energy = parity_energy(hidden)
        return energy, torch.sigmoid((energy - self.spec.k_star) / self.spec.temperature)

    def _update(self, hidden: Tensor, drive: Tensor, recurrent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        energy, gate = self._gate(hidden)
        both = hidden @ recurrent  # (B, 2D): W_comm h and S W_flip h
        size = self.spec.hidden_size
        new_hidden = torch.tanh(drive + both[:, :size] + gate[:, None] * both[:, size:])
        return new_hidden, energy, gate

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        hidden, energy, gate = self._update(state["hidden"], self.input_proj(x_t), self._recurrent_weight())
        if is_tracing(self):
            report_trace(self, {"parity_energy": energy, "gate": gate})
        return hidden, {"hidden": hidden}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        recurrent = self._recurrent_weight()
        drives = self.input_proj(x).unbind(1)  # W_in x_t for every step at once
        # unbind once: indexing step t inside the loop costs a full-size zero fill per step in backward
        keeps = (~resets).to(x.dtype).unbind(1) if resets is not None else None
        hidden = state["hidden"]
        states, energies, gates = [], [], []
        for t, drive in enumerate(drives):
            if keeps is not None:  # a reset starts from the initial state, zeros
                hidden = hidden * keeps[t][:, None]
            hidden, energy, gate = self._update(hidden, drive, recurrent)
            states.append(hidden)
            energies.append(energy)
            gates.append(gate)
        if is_tracing(self):
            report_trace(
                self, {"parity_energy": torch.stack(energies, 1), "gate": torch.stack(gates, 1)}, sequence=True
            )
        outputs = torch.stack(states, dim=1)
        return outputs, {"hidden": outputs[:, -1]}


def _swap_halves(matrix: Tensor, dim: int) -> Tensor:
    """S M (dim=0) or M S (dim=1) for the half-swapping involution S."""
    first, second = matrix.chunk(2, dim=dim)
    return torch.cat([second, first], dim=dim)


def _project(matrix: Tensor, sign: float) -> Tensor:
    """P A P for P = (I + sign · S) / 2: (A + sign (SA + AS) + SAS) / 4."""
    swapped_rows = _swap_halves(matrix, dim=0)
    return (matrix + sign * (swapped_rows + _swap_halves(matrix, dim=1)) + _swap_halves(swapped_rows, dim=1)) / 4
