"""The NTM interface: what the controller's output is turned into at every step.

The NTM owns its interface projection (controller output -> one flat vector ξ).
:class:`InterfaceLayout` knows which slice of ξ is which quantity for a spec; quantities a flag
fixes (a fixed β or γ, gating off, erasure off) take no room, so the projection has no dead rows.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from engrammar.nn.gates import gate
from torch import Tensor

from .spec import NTMSpec

__all__ = ["HeadControls", "InterfaceLayout", "NTMInterface", "parse_interface"]


class HeadControls(NamedTuple):
    """Addressing controls of K heads (leading dimensions first, e.g. (B,) or (B, T))."""

    keys: Tensor  # (..., K, W)
    strengths: Tensor  # (..., K), β > 0
    gates: Tensor  # (..., K), interpolation gate g in [0, 1]
    shifts: Tensor  # (..., K, 2S + 1), a distribution over offsets -S..S
    sharpness: Tensor  # (..., K), γ ≥ 1


class NTMInterface(NamedTuple):
    reads: HeadControls  # R read heads
    writes: HeadControls  # H write heads
    erase_vectors: Tensor | None  # (..., H, W) in [0, 1]; None when erasure is off
    add_vectors: Tensor  # (..., H, W)


class InterfaceLayout:
    """Sizes of the pieces of ξ, in order, for one spec."""

    def __init__(self, spec: NTMSpec) -> None:
        self.spec = spec
        width, shifts = spec.word_size, 2 * spec.shift_range + 1
        pieces: list[tuple[str, int]] = []
        for role, heads in (("read", spec.num_reads), ("write", spec.num_writes)):
            pieces.append((f"{role}_keys", heads * width))
            if spec.beta is None:
                pieces.append((f"{role}_strengths", heads))
            if spec.gating:
                pieces.append((f"{role}_gates", heads))
            pieces.append((f"{role}_shifts", heads * shifts))
            if spec.gamma is None:
                pieces.append((f"{role}_sharpness", heads))
        if spec.erasure:
            pieces.append(("erase_vectors", spec.num_writes * width))
        pieces.append(("add_vectors", spec.num_writes * width))
        self.pieces = pieces
        self.size = sum(size for _, size in pieces)

    def split(self, flat: Tensor) -> dict[str, Tensor]:
        sizes = [size for _, size in self.pieces]
        return dict(zip([name for name, _ in self.pieces], torch.split(flat, sizes, dim=-1)))


def parse_interface(flat: Tensor, layout: InterfaceLayout) -> NTMInterface:
    """Raw projection ``flat`` (..., layout.size) -> :class:`NTMInterface` with the activations
    applied (β: softplus, g: the gate, s: softmax, γ: 1 + softplus, e: sigmoid)."""
    spec = layout.spec
    lead = flat.shape[:-1]
    raw = layout.split(flat)
    width, shifts = spec.word_size, 2 * spec.shift_range + 1

    def controls(role: str, heads: int) -> HeadControls:
        if spec.beta is None:
            strengths = F.softplus(raw[f"{role}_strengths"])
        else:
            strengths = flat.new_full((*lead, heads), spec.beta)
        if spec.gating:
            gates = gate(raw[f"{role}_gates"], spec.gate_type, spec.gate_steepness)
        else:
            gates = flat.new_ones(*lead, heads)
        if spec.gamma is None:
            sharpness = 1.0 + F.softplus(raw[f"{role}_sharpness"])
        else:
            sharpness = flat.new_full((*lead, heads), spec.gamma)
        return HeadControls(
            keys=raw[f"{role}_keys"].reshape(*lead, heads, width),
            strengths=strengths,
            gates=gates,
            shifts=torch.softmax(raw[f"{role}_shifts"].reshape(*lead, heads, shifts), dim=-1),
            sharpness=sharpness,
        )

    erase = raw["erase_vectors"].reshape(*lead, spec.num_writes, width) if spec.erasure else None
    return NTMInterface(
        reads=controls("read", spec.num_reads),
        writes=controls("write", spec.num_writes),
        erase_vectors=None if erase is None else torch.sigmoid(erase),
        add_vectors=raw["add_vectors"].reshape(*lead, spec.num_writes, width),
    )


def select_step(interface: NTMInterface, t: int) -> NTMInterface:
    """Step ``t`` of a whole-sequence interface (every field (B, T, ...) -> (B, ...))."""
    return NTMInterface(
        reads=HeadControls(*(f[:, t] for f in interface.reads)),
        writes=HeadControls(*(f[:, t] for f in interface.writes)),
        erase_vectors=None if interface.erase_vectors is None else interface.erase_vectors[:, t],
        add_vectors=interface.add_vectors[:, t],
    )
