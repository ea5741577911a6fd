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
from engrammar.nn.gates import gate
from torch import Tensor

from .fused import constants
from .spec import DNCSpec

__all__ = ["DNCInterface", "InterfaceLayout", "oneplus", "parse_interface"]


def oneplus(x: Tensor) -> Tensor:
    """1 + softplus(x): a value in [1, ∞), the paper's activation for strengths."""
    return F.softplus(x) + constants(x)[0]


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
    """Where each quantity sits in the flat interface vector ξ, for one spec.

    ξ is laid out in groups that share an activation (identity, oneplus, sigmoid, gate, softmax),
    so parsing applies each activation once to a contiguous block.
    """

    def __init__(self, spec: DNCSpec) -> None:
        self.spec = spec
        reads, writes, width = spec.num_reads, spec.num_writes, spec.word_size
        oneplus_pieces: list[tuple[str, int]] = []
        if spec.beta is None:
            oneplus_pieces += [("read_strengths", reads), ("write_strengths", writes)]
        if spec.gamma is None:
            oneplus_pieces += [("read_sharpness", reads), ("write_sharpness", writes)]
        gate_pieces = [("free_gates", reads)]
        if spec.gating:
            gate_pieces += [("allocation_gates", writes), ("write_gates", writes)]
        groups: list[tuple[str, list[tuple[str, int]]]] = [
            (
                "identity",
                [("read_keys", reads * width), ("write_keys", writes * width), ("write_vectors", writes * width)],
            ),
            ("oneplus", oneplus_pieces),
            ("sigmoid", [("erase_vectors", writes * width)] if spec.erasure else []),
            ("gate", gate_pieces),
            ("softmax", [("read_modes", reads * (2 * writes + 1))]),
        ]
        self.groups = [(activation, pieces) for activation, pieces in groups if pieces]
        self.pieces = [piece for _, pieces in self.groups for piece in pieces]
        self.size = sum(size for _, size in self.pieces)
        self.group_sizes = [sum(size for _, size in pieces) for _, pieces in self.groups]
        self.piece_sizes = [[size for _, size in pieces] for _, pieces in self.groups]
        self.piece_names = [[name for name, _ in pieces] for _, pieces in self.groups]

    def fits_fused_step(self) -> bool:
        """Whether ξ has the layout :class:`engrammar_dnc.fused.FusedInterfaceStep` parses itself:
        one write head, learned β, no γ, erasure on, learned sigmoid gates."""
        spec, reads, width = self.spec, self.spec.num_reads, self.spec.word_size
        expected = [
            ("identity", [("read_keys", reads * width), ("write_keys", width), ("write_vectors", width)]),
            ("oneplus", [("read_strengths", reads), ("write_strengths", 1)]),
            ("sigmoid", [("erase_vectors", width)]),
            ("gate", [("free_gates", reads), ("allocation_gates", 1), ("write_gates", 1)]),
            ("softmax", [("read_modes", reads * 3)]),
        ]
        return spec.num_writes == 1 and spec.gamma == 1.0 and spec.gate_type == "sigmoid" and self.groups == expected

    def split(self, flat: Tensor) -> dict[str, Tensor]:
        """flat (..., size) -> named raw slices (..., piece size), no activation."""
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
    # split_with_sizes directly: torch.split's Python wrapper costs more than the split itself
    blocks = flat.split_with_sizes(layout.group_sizes, dim=-1)
    values: dict[str, Tensor] = {}
    for (activation, _), block, sizes, names in zip(layout.groups, blocks, layout.piece_sizes, layout.piece_names):
        if activation == "oneplus":
            block = oneplus(block)
        elif activation == "sigmoid":
            block = torch.sigmoid(block)
        elif activation == "gate":
            block = gate(block, spec.gate_type, spec.gate_steepness)
        elif activation == "softmax":
            values["read_modes"] = torch.softmax(block.reshape(*lead, reads, 2 * writes + 1), dim=-1)
            continue
        values.update(zip(names, block.split_with_sizes(sizes, dim=-1) if len(sizes) > 1 else (block,)))

    def fixed(value: float | None, name: str, heads: int) -> Tensor:
        if value is None:
            return values[name]
        return flat.new_full((*lead, heads), value)

    ones = flat.new_ones(*lead, writes) if not spec.gating else None
    sharpen = spec.gamma != 1.0
    return DNCInterface(
        read_keys=values["read_keys"].reshape(*lead, reads, width),
        read_strengths=fixed(spec.beta, "read_strengths", reads),
        write_keys=values["write_keys"].reshape(*lead, writes, width),
        write_strengths=fixed(spec.beta, "write_strengths", writes),
        erase_vectors=values["erase_vectors"].reshape(*lead, writes, width) if spec.erasure else None,
        write_vectors=values["write_vectors"].reshape(*lead, writes, width),
        free_gates=values["free_gates"],
        allocation_gates=values["allocation_gates"] if ones is None else ones,
        write_gates=values["write_gates"] if ones is None else ones,
        read_modes=values["read_modes"],
        read_sharpness=fixed(spec.gamma, "read_sharpness", reads) if sharpen else None,
        write_sharpness=fixed(spec.gamma, "write_sharpness", writes) if sharpen else None,
    )
