"""``realnet``: a RealNet core as a memory under engrammar's state protocol.

The input's ``in_features`` values drive the first ``in_features`` neurons; the output is the state
of the last ``out_features`` neurons. Each input step runs ``thinking_steps`` steps of the update rule
of :mod:`engrammar_realnet.dynamics`: the first with the input, the others silent (the sequential
mode of RealNet's documentation with ``thinking_steps`` steps per token). State: the neurons'
values ``neurons`` (B, num_neurons), zero at the start and after a reset.

    mem = engrammar.build("realnet", in_features=8, num_neurons=64, out_features=16, thinking_steps=3)
    y, state = mem(x)            # x (B, T, 8) -> y (B, T, 16)
"""

from __future__ import annotations

import torch
from engrammar.component import Component
from engrammar.spec import ComponentSpec, SpecError, field, ge, one_of, spec
from engrammar.state import StateEntry
from torch import Tensor, nn

from .dynamics import ACTIVATIONS, WEIGHT_INITS, initialize_synapses, think

__all__ = ["RealNetMemory", "RealNetSpec"]

State = dict[str, Tensor]


@spec
class RealNetSpec(ComponentSpec):
    """Options of ``realnet``."""

    num_neurons: int = field(default=32, validator=ge(1), doc="neurons of the one fully connected layer")
    out_features: int = field(default=8, validator=ge(1), doc="output neurons read out (the last ones)")
    thinking_steps: int = field(default=1, validator=ge(1), doc="update steps per input step (input on the first)")
    activation: str = field(default="tanh", validator=one_of(*ACTIVATIONS), doc="activation of the update")
    weight_init: str = field(default="orthogonal", validator=one_of(*WEIGHT_INITS), doc="initialisation of W")


class RealNetMemory(Component):
    """RealNet core: one fully connected N×N recurrent layer, thinking_steps updates per input step."""

    spec_cls = RealNetSpec
    spec: RealNetSpec

    def __init__(self, spec: RealNetSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        if self.in_features > s.num_neurons:
            raise SpecError(
                "in_features", f"{self.in_features} inputs need as many input neurons; num_neurons is {s.num_neurons}"
            )
        if s.out_features > s.num_neurons:
            raise SpecError("out_features", f"must be <= num_neurons ({s.num_neurons}), got {s.out_features}")
        self.weight = nn.Parameter(torch.empty(s.num_neurons, s.num_neurons))
        self.bias = nn.Parameter(torch.zeros(s.num_neurons))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        initialize_synapses(self.weight, self.spec.weight_init)
        with torch.no_grad():
            self.bias.zero_()

    @property
    def out_features(self) -> int:
        return self.spec.out_features

    def state_spec(self) -> dict[str, StateEntry]:
        return {"neurons": StateEntry((self.spec.num_neurons,), doc="every neuron's value")}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        s = self.spec
        drive = torch.nn.functional.pad(x_t, (0, s.num_neurons - self.in_features))

        def drives(t: int) -> Tensor | None:
            return drive if t == 0 else None

        _, neurons = think(
            self.weight, self.bias, ACTIVATIONS[s.activation], state["neurons"], drives, s.thinking_steps
        )
        return neurons[:, s.num_neurons - s.out_features :], {"neurons": neurons}
