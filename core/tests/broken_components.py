"""Deliberately broken components: each breaks one rule of the protocol, and the conformance
property named for that rule must catch it (test_conformance_catches.py). ``BROKEN`` holds one per
property; ``MORE_BROKEN`` more ways to break some of them; ``SIDE_EFFECTS`` more side effects for
``no_side_effects``."""

from __future__ import annotations

from typing import Any

import torch
from engrammar.builtin.ema import EMA, EMASpec
from engrammar.nn.trace import Trace
from engrammar.recorder import is_tracing
from engrammar.spec import field, spec
from engrammar.state import State, reset_where
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


class PeeksWhenChunkedByThree(EMA):
    """Peeks at the next input, under one option set only (``chunk_size=3``)."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        if self.spec.chunk_size != 3:
            return y, state
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


class ZeroEffectParameter(EMA):
    """Has a parameter in the graph whose effect is multiplied away: its gradient is always zero."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.scale = nn.Parameter(torch.ones(1))

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y + 0.0 * self.scale, state


class RareUnit(EMA):
    """Correct: a ReLU unit that fires only when the inputs sum above 2.5, so a tiny draw may leave
    its gain without gradient while a larger one reaches it."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.gain = nn.Parameter(torch.ones(1))

    def _unit(self, x: Tensor) -> Tensor:
        return self.gain * torch.relu(x.sum(-1, keepdim=True) - 2.5)

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y + self._unit(x), state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y + self._unit(x_t), state


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


class ForgetsAnEntry(EMA):
    """Its whole-sequence path returns a state without the declared running average."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, _ = super()._sequence(x, state)
        return y, {}


class WrongOutputWidth(EMA):
    """Declares one more output feature than it produces."""

    @property
    def out_features(self) -> int:
        return self.in_features + 1


class StepDisagrees(EMA):
    """Its step squashes the output that its whole-sequence path returns as is."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return torch.tanh(y), state


class RemembersOnModule(EMA):
    """Keeps the last input on the module and mixes it into the next call: a second, hidden state
    that detaching the real one does not cut."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        previous = getattr(self, "previous", None)
        if previous is not None and previous.shape[0] == x.shape[0]:
            y = y + 0.1 * previous[:, None, :]
        self.previous = x[:, -1]
        return y, state


class _HalfGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return 2.0 * x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad  # should be 2 * grad


class WrongBackward(EMA):
    """A hand-written backward that returns half the true gradient (finite and non-zero)."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return _HalfGradient.apply(y), state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return _HalfGradient.apply(y), state


class StateAlwaysFloat64(EMA):
    """Keeps its state in float64 whatever dtype it runs in."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y, {"average": state["average"].double()}


@spec
class LooseSpec(EMASpec):
    scales: Any = field(default=(1.0, 2.0), doc="typed Any: a tuple comes back from JSON as a list")


class LooselyTypedSpec(EMA):
    """Its spec has a field typed ``Any`` holding a tuple, which does not survive a file."""

    spec_cls = LooseSpec


class UnsavedRandomBuffer(EMA):
    """Adds a random offset kept in a non-persistent buffer: saved parameters do not rebuild it."""

    def __init__(self, spec: object = None, **fields: object) -> None:
        super().__init__(spec, **fields)  # type: ignore[arg-type]
        self.register_buffer("offset", torch.randn(self.in_features), persistent=False)

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y + self.offset.to(y.dtype), state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y + self.offset.to(y.dtype), state


class EditsStateInStep(EMA):
    """Updates the incoming running average in place, in ``_step`` only (its whole-sequence path is
    correct): stepping twice from one state gives two different outputs."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        decay = torch.sigmoid(self.decay_logit).to(x_t.dtype)
        average = state["average"]
        average.mul_(decay).add_((1.0 - decay) * x_t)
        return average.clone(), {"average": average}


class EditsStateWhenResetting(EMA):
    """Resets samples by zeroing the caller's state tensor in place."""

    def reset_samples(self, state: State, mask: Tensor, dtype: torch.dtype | None = None) -> State:
        state["average"][mask] = 0.0
        return state


class ReplacesCallersEntry(EMA):
    """Stores its new running average into the caller's dict instead of returning a new one."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = super()._sequence(x, state)
        state["average"] = new["average"]
        return y, state


class EditsStateWhenResettingAStep(EditsStateWhenResetting):
    """Applies resets inside its whole-sequence path without ``reset_samples`` (correctly), so only
    ``step`` with a reset reaches the in-place reset."""

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        outputs = []
        for t in range(x.shape[1]):
            initial = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
            state = reset_where(state, resets[:, t], initial)
            y_t, state = self._step(x[:, t], state)
            outputs.append(y_t)
        return torch.stack(outputs, dim=1), state


class EditsStateWhileTraining(EMA):
    """Decays the incoming state in place, but only when gradients are on."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if torch.is_grad_enabled():
            state["average"].mul_(0.5)
        return super()._sequence(x, state)


class ClampsStateInPlace(EMA):
    """Clamps the incoming state in place: harmless for these values, but a write all the same."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        state["average"].clamp_(-1e6, 1e6)
        return super()._sequence(x, state)


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
    "shapes": WrongOutputWidth,
    "step_equals_forward": StepDisagrees,
    "detach": RemembersOnModule,
    "gradcheck": WrongBackward,
    "dtypes": StateAlwaysFloat64,
    "spec_roundtrip": LooselyTypedSpec,
    "parameter_roundtrip": UnsavedRandomBuffer,
    "incoming_state_unchanged": EditsStateInStep,
    "no_side_effects": WritesAttribute,
}

#: More defects the ``no_side_effects`` property must catch, each with what its message names.
SIDE_EFFECTS = {
    KeepsATrace: r"attribute 'trace' \['chunks'\] changed length from 0 to 1",
    CountsInABuffer: r"changed the module: buffer 'calls' changed values",
    ChangesWhenTraced: r"forward from the initial state, inside a recording vs outside: outputs differ",
}

#: More ways to break a property, each caught by it: (property, component, what the message says).
MORE_BROKEN = [
    ("gradients", ZeroEffectParameter, r"parameter 'scale' got an all-zero gradient \(also on 16 samples x 8 steps\)"),
    ("state_declared", ForgetsAnEntry, "forward: state lacks declared entry 'average'"),
    ("incoming_state_unchanged", EditsStateWhenResetting, "forward with resets .*'average' was overwritten"),
    ("incoming_state_unchanged", ReplacesCallersEntry, "forward .*entry 'average' was replaced in the caller's dict"),
    ("incoming_state_unchanged", EditsStateWhenResettingAStep, "step with a reset .*'average' was overwritten"),
    ("incoming_state_unchanged", EditsStateWhileTraining, r"forward \(gradients on\).*'average' was overwritten"),
    ("incoming_state_unchanged", ClampsStateInPlace, "'average' was written by an in-place operation"),
]
