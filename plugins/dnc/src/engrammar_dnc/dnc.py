"""``dnc``: the Differentiable Neural Computer memory (Graves et al., 2016) as a component.

Its input is the controller's output; it owns the interface projection (input -> ξ, see
:mod:`.interface`); its output is the R read vectors, flattened, (B, T, R·W) — with the input
appended when ``pass_through`` is set. The memory state never leaves the component: a controller
only ever sees the read vectors (fed back through a delayed edge in a wiring).

State (per sample; the batch dimension comes first)::

    memory              (N, W)     the memory matrix
    usage               (N,)       how used each cell is, in [0, 1]
    readers.weights     (R, N)     each read head's last weighting (row r: head r)
    writers.weights     (H, N)     each write head's last weighting
    writers.precedence  (H, N)     per write head: how recently each cell was written
    writers.link        (H, N, N)  per write head: temporal link matrix L[i, j] = "i written after j"

Parameters: ``interface.weight`` and ``interface.bias`` (the projection to ξ), and with
``normalization`` the read-out's layer norm ``read_out.norm.weight`` and ``read_out.norm.bias``
(:class:`engrammar.nn.ReadOut`; release 0.1.0 named them ``norm.*``, and such checkpoints still load).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from engrammar.component import Component
from engrammar.nn import ReadOut, rename_on_load
from engrammar.nn.initialization import initialize_linear
from engrammar.recorder import is_tracing, report_trace
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .fused import FusedInterfaceStep
from .interface import DNCInterface, InterfaceLayout, parse_interface
from .memory_step import memory_step
from .spec import DNCSpec

__all__ = ["DNC", "DNCSpec"]


class DNC(Component):
    """Differentiable Neural Computer memory: content, allocation and temporal-link addressing."""

    spec_cls = DNCSpec
    spec: DNCSpec

    def __init__(self, spec: DNCSpec | dict[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.layout = InterfaceLayout(self.spec)
        #: One step as a single autograd node (activations of ξ and the memory step together):
        #: the default layout only, and not while a recording traces the parsed interface.
        self.fused_step = self.layout.fits_fused_step()
        self.interface = nn.Linear(self.in_features, self.layout.size)
        initialize_linear(self.interface, self.spec.initialization)
        self.read_out = ReadOut.from_spec(self.spec.num_reads * self.spec.word_size, self.spec)
        # engrammar-dnc 0.1.0 kept the read-out's layer norm at the top level
        rename_on_load(self, {"norm.": "read_out.norm."})

    @property
    def out_features(self) -> int:
        return self.read_out.out_features

    def state_spec(self) -> dict[str, Any]:
        cells, width = self.spec.memory_size, self.spec.word_size
        reads, writes = self.spec.num_reads, self.spec.num_writes
        return {
            "memory": StateEntry((cells, width), doc="memory matrix M"),
            "usage": StateEntry((cells,), doc="usage u of each cell"),
            "readers": {"weights": StateEntry((reads, cells), doc="last read weighting of each read head")},
            "writers": {
                "weights": StateEntry((writes, cells), doc="last write weighting of each write head"),
                "precedence": StateEntry((writes, cells), doc="precedence p of each write head"),
                "link": StateEntry((writes, cells, cells), doc="temporal link L of each write head"),
            },
        }

    def plot_trace(
        self, trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "dnc"
    ) -> list[Path]:
        """PNG plots of a trace this DNC reported (``record.trace(mem)`` of a recording opened with
        ``traces=True``); see :func:`engrammar_dnc.plots.plot_trace`."""
        from .plots import plot_trace

        return plot_trace(trace, out_dir, sample=sample, prefix=prefix)

    # ---- computation ------------------------------------------------------------------------

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        # Here, the read-out's forward and F.linear rather than module calls: per step, nn.Module's
        # call machinery costs more than the read-out or the small projection itself.
        tracing = is_tracing(self)
        if self.fused_step and not tracing:
            writers = state["writers"]
            reads, memory, usage, read_weights, write_weights, precedence, link = FusedInterfaceStep.apply(
                x_t, self.interface.weight, self.interface.bias, state["memory"], state["usage"], state["readers"]["weights"], writers["weights"],
                writers["precedence"], writers["link"],
            )  # fmt: skip
            new_state = {
                "memory": memory,
                "usage": usage,
                "readers": {"weights": read_weights},
                "writers": {"weights": write_weights, "precedence": precedence, "link": link},
            }
            return self.read_out.forward(reads, x_t), new_state
        interface = parse_interface(F.linear(x_t, self.interface.weight, self.interface.bias), self.layout)
        reads, state = memory_step(state, interface)
        if tracing:
            self._report_trace(interface, state)
        return self.read_out.forward(reads.flatten(1), x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        # The projection and every activation of ξ run once for the whole sequence; only the
        # memory recurrence itself is stepped.
        interfaces = parse_interface(self.interface(x), self.layout)
        # unbind once per field: indexing [:, t] at every step would cost a full-size zero
        # tensor per step and field in backward
        length = x.shape[1]
        per_step = [[None] * length if f is None else f.unbind(1) for f in interfaces]
        reads = []
        tracing = is_tracing(self)
        for t in range(length):
            interface = DNCInterface(*(steps[t] for steps in per_step))  # type: ignore[arg-type]
            read_t, state = memory_step(state, interface)
            if tracing:
                self._report_trace(interface, state)
            reads.append(read_t.flatten(1))
        return self.read_out(torch.stack(reads, dim=1), x), state

    def _report_trace(self, interface: DNCInterface, state: State) -> None:
        report_trace(
            self,
            {
                "read_weights": state["readers"]["weights"],
                "write_weights": state["writers"]["weights"],
                "usage": state["usage"],
                "free_gates": interface.free_gates,
                "allocation_gates": interface.allocation_gates,
                "write_gates": interface.write_gates,
                "read_modes": interface.read_modes,
            },
            final={"link": state["writers"]["link"]},
        )
