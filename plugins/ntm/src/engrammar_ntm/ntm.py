"""``ntm``: the Neural Turing Machine memory (Graves et al., 2014) as a component.

Its input is the controller's output; it owns the interface projection (see :mod:`.interface`);
its output is the R read vectors, flattened, (B, T, R·W) — with the input appended when
``pass_through`` is set. The memory state never leaves the component.

State (per sample; the batch dimension comes first)::

    memory            (N, W)   the memory matrix (starts at ``initial_memory``)
    readers.weights   (R, N)   each read head's last weighting (row r: head r; starts on cell 0)
    writers.weights   (H, N)   each write head's last weighting (starts on cell 0)

Parameters and buffers: ``interface.weight`` and ``interface.bias`` (the projection to ξ),
``initial_memory`` (N, W), and with ``normalization`` the read-out's layer norm
``read_out.norm.weight`` and ``read_out.norm.bias`` (:class:`engrammar.nn.ReadOut`; release 0.1.0
named them ``norm.*``, and such checkpoints still load).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from engrammar.component import Component
from engrammar.nn import ReadOut, rename_on_load
from engrammar.nn.initialization import initialize_linear
from engrammar.recorder import is_tracing, report_trace
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .interface import InterfaceLayout, NTMInterface, parse_interface, select_step
from .memory_step import memory_step
from .spec import NTMSpec

__all__ = ["NTM", "NTMSpec"]


class NTM(Component):
    """Neural Turing Machine memory: content and location (shift) addressing, erase and add."""

    spec_cls = NTMSpec
    spec: NTMSpec

    def __init__(self, spec: NTMSpec | dict[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.layout = InterfaceLayout(self.spec)
        self.interface = nn.Linear(self.in_features, self.layout.size)
        initialize_linear(self.interface, self.spec.initialization)
        self.read_out = ReadOut.from_spec(self.spec.num_reads * self.spec.word_size, self.spec)
        # engrammar-ntm 0.1.0 kept the read-out's layer norm at the top level
        rename_on_load(self, {"norm.": "read_out.norm."})
        # Small distinct starting words, fixed at construction (a buffer, saved with the
        # parameters): identical cells would make content addressing blind at the start.
        bound = 1.0 / math.sqrt(self.spec.memory_size + self.spec.word_size)
        initial = torch.empty(self.spec.memory_size, self.spec.word_size).uniform_(-bound, bound)
        self.register_buffer("initial_memory", initial)

    @property
    def out_features(self) -> int:
        return self.read_out.out_features

    def state_spec(self) -> dict[str, Any]:
        cells, width = self.spec.memory_size, self.spec.word_size
        return {
            "memory": StateEntry((cells, width), doc="memory matrix M"),
            "readers": {"weights": StateEntry((self.spec.num_reads, cells), doc="last weighting of each read head")},
            "writers": {"weights": StateEntry((self.spec.num_writes, cells), doc="last weighting of each write head")},
        }

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        state = super().init_state(batch_size, device=device, dtype=dtype)
        memory = state["memory"]
        initial: Tensor = self.initial_memory  # type: ignore[assignment]
        state["memory"] = initial.to(memory.device, memory.dtype).expand_as(memory).clone()
        # every head starts focused on cell 0, so shifts have a defined origin
        for group in ("readers", "writers"):
            weights = state[group]["weights"]
            weights[..., 0] = 1.0
        return state

    def plot_trace(
        self, trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "ntm"
    ) -> list[Path]:
        """PNG plots of a trace this NTM reported (``record.trace(mem)`` of a recording opened with
        ``traces=True``); see :func:`engrammar_ntm.plots.plot_trace`."""
        from .plots import plot_trace

        return plot_trace(trace, out_dir, sample=sample, prefix=prefix)

    # ---- computation ------------------------------------------------------------------------

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        interface = parse_interface(self.interface(x_t), self.layout)
        reads, state = memory_step(state, interface)
        if is_tracing(self):
            self._report_trace(interface, state)
        return self.read_out(reads.flatten(1), x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        # The projection and every activation of ξ run once for the whole sequence.
        interfaces = parse_interface(self.interface(x), self.layout)
        reads = []
        tracing = is_tracing(self)
        for t in range(x.shape[1]):
            interface = select_step(interfaces, t)
            read_t, state = memory_step(state, interface)
            if tracing:
                self._report_trace(interface, state)
            reads.append(read_t.flatten(1))
        return self.read_out(torch.stack(reads, dim=1), x), state

    def _report_trace(self, interface: NTMInterface, state: State) -> None:
        report_trace(
            self,
            {
                "read_weights": state["readers"]["weights"],
                "write_weights": state["writers"]["weights"],
                "read_gates": interface.reads.gates,
                "write_gates": interface.writes.gates,
                "read_shifts": interface.reads.shifts,
                "write_shifts": interface.writes.shifts,
                "read_sharpness": interface.reads.sharpness,
                "write_sharpness": interface.writes.sharpness,
            },
            final={"memory": state["memory"]},
        )
