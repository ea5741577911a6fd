"""The DNC interface: what the controller's output is turned into at every step.

The DNC owns its interface projection (a linear map from its input, the controller output, to one
flat vector ξ). :class:`InterfaceLayout` knows which slice of ξ is which quantity, given the spec:
entries that a flag fixes (a fixed β or γ, erasure off, gating off) take no room in ξ, so the
projection has no dead rows. :func:`parse_interface` applies each quantity's activation.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .gates import gate
from .spec import DNCSpec

__all__ = ["DNCInterface", "InterfaceLayout", "oneplus", "parse_interface"]


def oneplus(x: Tensor) -> Tensor:
    """1 + softplus(x): a value in [1, ∞), the paper's activation for strengths."""
    return 1.0 + F.softplus(x)


class DNCInterface(NamedTuple):
    """One step's interface, batch first. R read heads, H write heads, word size W."""

    read_keys: Tensor  # (B, R, W)
    read_strengths: Tensor  # (B, R), β ≥ 1
    write_keys: Tensor  # (B, H, W)
    write_strengths: Tensor  # (B, H), β ≥ 1
    erase_vectors: Tensor | None  # (B, H, W) in [0, 1]; None when erasure is off
    write_vectors: Tensor  # (B, H, W)
    free_gates: Tensor  # (B, R) in [0, 1]
    allocation_gates: Tensor  # (B, H) in [0, 1]; ones when gating is off
    write_gates: Tensor  # (B, H) in [0, 1]; ones when gating is off
    read_modes: Tensor  # (B, R, 2H + 1): H backward, H forward, 1 content; rows sum to 1
    read_sharpness: Tensor | None  # (B, R), γ ≥ 1; None when γ is 1 (no sharpening)
    write_sharpness: Tensor | None  # (B, H), γ ≥ 1; None when γ is 1


class InterfaceLayout:
    """Sizes of the pieces of the flat interface vector ξ, in order, for one spec."""

    def __init__(self, spec: DNCSpec) -> None:
        self.spec = spec
        reads, writes, width = spec.num_reads, spec.num_writes, spec.word_size
        pieces: list[tuple[str, int]] = [("read_keys", reads * width), ("write_keys", writes * width)]
        if spec.beta is None:
            pieces += [("read_strengths", reads), ("write_strengths", writes)]
        if spec.erasure:
            pieces.append(("erase_vectors", writes * width))
        pieces += [("write_vectors", writes * width), ("free_gates", reads)]
        if spec.gating:
            pieces += [("allocation_gates", writes), ("write_gates", writes)]
        pieces.append(("read_modes", reads * (2 * writes + 1)))
        if spec.gamma is None:
            pieces += [("read_sharpness", reads), ("write_sharpness", writes)]
        self.pieces = pieces
        self.size = sum(size for _, size in pieces)

    def split(self, flat: Tensor) -> dict[str, Tensor]:
        """flat (..., size) -> named raw slices (..., piece size)."""
        sizes = [size for _, size in self.pieces]
        return dict(zip([name for name, _ in self.pieces], torch.split(flat, sizes, dim=-1)))


def parse_interface(flat: Tensor, layout: InterfaceLayout) -> DNCInterface:
    """Turn the raw projection ``flat`` (B, layout.size) into a :class:`DNCInterface`.

    Leading dimensions are kept: ``flat`` (B, T, layout.size) gives every field with (B, T, ...)
    in front, which lets a whole sequence's activations be computed at once.
    """
    spec = layout.spec
    lead = flat.shape[:-1]  # (B,) for one step, (B, T) for a whole sequence
    reads, writes, width = spec.num_reads, spec.num_writes, spec.word_size
    raw = layout.split(flat)

    def strengths(name: str, heads: int) -> Tensor:
        if spec.beta is None:
            return oneplus(raw[name])
        return flat.new_full((*lead, heads), spec.beta)

    def sharpness(name: str) -> Tensor | None:
        if spec.gamma is None:
            return oneplus(raw[name])
        if spec.gamma == 1.0:
            return None
        heads = reads if name == "read_sharpness" else writes
        return flat.new_full((*lead, heads), spec.gamma)

    def gates_or_ones(name: str) -> Tensor:
        if spec.gating:
            return gate(raw[name], spec.gate_type, spec.gate_steepness)
        return flat.new_ones(*lead, writes)

    return DNCInterface(
        read_keys=raw["read_keys"].reshape(*lead, reads, width),
        read_strengths=strengths("read_strengths", reads),
        write_keys=raw["write_keys"].reshape(*lead, writes, width),
        write_strengths=strengths("write_strengths", writes),
        erase_vectors=torch.sigmoid(raw["erase_vectors"]).reshape(*lead, writes, width) if spec.erasure else None,
        write_vectors=raw["write_vectors"].reshape(*lead, writes, width),
        free_gates=gate(raw["free_gates"], spec.gate_type, spec.gate_steepness),
        allocation_gates=gates_or_ones("allocation_gates"),
        write_gates=gates_or_ones("write_gates"),
        read_modes=torch.softmax(raw["read_modes"].reshape(*lead, reads, 2 * writes + 1), dim=-1),
        read_sharpness=sharpness("read_sharpness"),
        write_sharpness=sharpness("write_sharpness"),
    )
