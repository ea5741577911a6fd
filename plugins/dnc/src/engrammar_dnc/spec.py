"""The DNC spec: every option of the component, with its rule and a one-line doc."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from engrammar.nn.gates import GATE_TYPES
from engrammar.nn.initialization import INITIALIZATIONS
from engrammar.spec import ComponentSpec, Retired, between, field, ge, gt, one_of, optional, spec

__all__ = ["INITIALIZATIONS", "DNCSpec"]


@spec
class DNCSpec(ComponentSpec):
    """Options of :class:`engrammar_dnc.dnc.DNC`. Names follow the seed conversation."""

    retired_fields: ClassVar[Mapping[str, Retired]] = {
        "trace": Retired("record traces with engrammar.recording(model, traces=True)", inert=False)
    }

    memory_size: int = field(default=32, validator=ge(1), doc="number of memory cells N")
    word_size: int = field(default=16, validator=ge(1), doc="width W of each memory cell")
    num_reads: int = field(default=4, validator=ge(1), doc="number of read heads R")
    num_writes: int = field(default=1, validator=ge(1), doc="number of write heads H")
    erasure: bool = field(default=True, doc="erase before adding on write (False: add only)")
    gating: bool = field(default=True, doc="learned write and allocation gates (False: always write, always allocate)")
    gate_type: str = field(
        default="sigmoid", validator=one_of(*GATE_TYPES), doc="activation of write/allocation/free gates"
    )
    gate_steepness: float = field(default=10.0, validator=gt(0.0), doc="slope k of steep_sigmoid gates: sigmoid(k x)")
    beta: float | None = field(
        default=None, validator=gt(0.0), doc="key strength β of content addressing (None: learned, >= 1)"
    )
    gamma: float | None = field(
        default=1.0,
        validator=optional(ge(1.0)),
        doc="sharpening γ of read/write weightings, mass kept (1: none, as in the paper; None: learned)",
    )
    normalization: bool = field(default=False, doc="layer norm on the read vectors")
    dropout: float = field(default=0.0, validator=between(0.0, 0.99), doc="dropout on the read vectors (training only)")
    initialization: str = field(
        default="xavier", validator=one_of(*INITIALIZATIONS), doc="init of the interface projection weights"
    )
    pass_through: bool = field(default=False, doc="append the input to the output (read vectors first, then the input)")
