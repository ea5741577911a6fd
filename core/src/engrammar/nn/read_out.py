"""``ReadOut``: what a memory puts out from its read vectors.

The options every memory with read heads offers (the seed conversation's ``normalization``,
``dropout`` and ``pass_through``), applied in that order::

    y = [dropout(layer_norm(r)), x]        norm and dropout optional; x appended with pass_through

r: the read vectors flattened, (..., R·W); x: the memory's own input, (..., D).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ReadOut"]


class ReadOut(nn.Module):
    """Layer norm (optional), dropout (training only, optional) and pass-through of the input.

    ``read_width``: R·W, the width of the flattened read vectors; ``in_features``: D, the width of
    the input appended by ``pass_through``. Parameters: ``norm.weight`` and ``norm.bias`` (R·W,)
    with ``normalization``, none otherwise.
    """

    def __init__(
        self,
        read_width: int,
        in_features: int,
        *,
        normalization: bool = False,
        dropout: float = 0.0,
        pass_through: bool = False,
    ) -> None:
        super().__init__()
        if read_width < 1 or in_features < 1:
            raise ValueError(f"read_width and in_features must be >= 1, got {read_width} and {in_features}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.read_width = read_width
        self.in_features = in_features
        self.pass_through = pass_through
        self.norm = nn.LayerNorm(read_width) if normalization else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    @classmethod
    def from_spec(cls, read_width: int, spec: Any) -> ReadOut:
        """The read-out a spec asks for through the conventional fields ``in_features``,
        ``normalization``, ``dropout`` and ``pass_through`` (those of the DNC and the NTM)."""
        return cls(
            read_width,
            spec.in_features,
            normalization=spec.normalization,
            dropout=spec.dropout,
            pass_through=spec.pass_through,
        )

    @property
    def out_features(self) -> int:
        """R·W, plus D with ``pass_through``."""
        return self.read_width + self.in_features if self.pass_through else self.read_width

    def forward(self, reads: Tensor, inputs: Tensor) -> Tensor:
        """reads (..., R·W), inputs (..., D) -> (..., out_features)."""
        if self.norm is not None:
            reads = self.norm(reads)
        if self.dropout is not None:
            reads = self.dropout(reads)
        return torch.cat([reads, inputs], dim=-1) if self.pass_through else reads

    def extra_repr(self) -> str:
        return f"read_width={self.read_width}, in_features={self.in_features}, pass_through={self.pass_through}"
