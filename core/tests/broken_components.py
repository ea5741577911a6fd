"""Deliberately broken components: each breaks one rule of the protocol, and the conformance
property named for that rule must catch it (tests/test_conformance_catches.py)."""

from __future__ import annotations

import torch
from engrammar.builtin.ema import EMA
from engrammar.nn.trace import Trace
from engrammar.recorder import is_tracing
from engrammar.state import State
from torch import Tensor, nn


class LeaksAcrossBatch(EMA):
    """Mixes the batch mean into every sample's output."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y + 0.5 * x_t.mean(dim=0, keepdim=True), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y + 0.5 * x.mean(dim=0, keepdim=True), state


class PeeksAtFuture(EMA):
    """Its whole-sequence path adds the next step's input."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        ahead = torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], dim=1)
        return y + ahead, state


class IgnoresIncomingState(EMA):
    """Its whole-sequence path always starts from zeros."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return super()._sequence(x, {"average": torch.zeros_like(state["average"])})


class BreaksOnResets(EMA):
    """Claims to handle resets in its fast path, and ignores them."""

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._sequence(x, state)


class DeadParameter(EMA):
    """Has a parameter that no computation uses."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.unused = nn.Parameter(torch.zeros(3))


class MisdeclaresState(EMA):
    """Declares a state shape it does not produce."""

    def state_spec(self) -> dict:
        from engrammar.state import StateEntry

        return {"average": StateEntry((self.in_features + 1,))}

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:  # type: ignore[no-untyped-def]
        return {"average": torch.zeros(batch_size, self.in_features, dtype=dtype or torch.get_default_dtype())}


class NotDeterministic(EMA):
    """Adds fresh noise on every call."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y + 1e-3 * torch.randn_like(y), state


class WritesAttribute(EMA):
    """Keeps its last output on the module: a side channel instead of the recording."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        self.last_output = y.detach()
        return y, state


class KeepsATrace(EMA):
    """Appends to a trace object it holds (the ``last_trace`` pattern): an in-place change."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.trace = Trace()

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        self.trace.record({"output": y})
        return y, state


class CountsInABuffer(EMA):
    """Counts its steps in a buffer, written in place."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().init_state(batch_size, device=device, dtype=dtype)


class ChangesWhenTraced(EMA):
    """Gives other outputs while a recording keeps its trace."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return (y + 1.0 if is_tracing(self) else y), state


BROKEN = {
    "batch_independence": LeaksAcrossBatch,
    "causality": PeeksAtFuture,
    "chunking": IgnoresIncomingState,
    "resets": BreaksOnResets,
    "gradients": DeadParameter,
    "state_declared": MisdeclaresState,
    "determinism": NotDeterministic,
    "no_side_effects": WritesAttribute,
}

#: More defects the ``no_side_effects`` property must catch, each with what its message names.
SIDE_EFFECTS = {
    KeepsATrace: r"attribute 'trace' \['chunks'\] changed length from 0 to 1",
    CountsInABuffer: r"changed the module: buffer 'calls' changed values",
    ChangesWhenTraced: r"forward from the initial state, inside a recording vs outside: outputs differ",
}
