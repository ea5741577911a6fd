"""Support for the tricks' tests (no tests here): tasks and a growable component small enough to
check by hand, registered at run time so that the tests need only core and the trainer.

- ``mean_output_for_tricks``: inputs are ones and the loss is the mean of the outputs, so a linear
  model's gradient is the same at every step (1 / out_features for each weight and bias): what a
  trick does to it can be written down step by step;
- ``echo_for_tricks``: repeat the input bits one step later (a small sequence task, for resume tests);
- ``elman_for_tricks``: h_t = tanh(W x_t + U h_{t-1} + b), growable (the growth protocol).
"""

from __future__ import annotations

import attrs
import torch
from engrammar.component import Component
from engrammar.nn.growth import Growth, Resized, build_empty, outgoing, place, set_parameter, state_widener
from engrammar.registry import register, unregister
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import State, StateEntry
from engrammar.task import Task, TaskBatch, TaskSpec
from torch import Tensor, nn
from torch.nn import functional as F

for _name in ("mean_output_for_tricks", "echo_for_tricks", "elman_for_tricks"):
    unregister(_name)


@spec
class MeanOutputSpec(TaskSpec):
    width: int = field(default=1, validator=ge(1), doc="output width")
    length: int = field(default=2, validator=ge(1), doc="steps")


@register("tasks", "mean_output_for_tricks")
class MeanOutput(Task):
    spec_cls = MeanOutputSpec
    metric_name = "loss"

    @property
    def in_features(self) -> int:
        return 1

    @property
    def out_features(self) -> int:
        return self.spec.width

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        shape = (batch_size, self.spec.length)
        return TaskBatch(
            torch.ones(*shape, 1), torch.zeros(*shape, self.spec.width), torch.ones(shape, dtype=torch.bool)
        )

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        per_step = outputs.float().mean(-1)
        return (per_step * batch.mask).sum() / batch.mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        return {"loss": float(self.loss(outputs, batch))}


@spec
class EchoSpec(TaskSpec):
    bits: int = field(default=3, validator=ge(1), doc="width")
    length: int = field(default=6, validator=ge(2), doc="steps")


@register("tasks", "echo_for_tricks")
class Echo(Task):
    spec_cls = EchoSpec
    metric_name = "bit_errors"

    @property
    def in_features(self) -> int:
        return self.spec.bits

    @property
    def out_features(self) -> int:
        return self.spec.bits

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        inputs = torch.randint(0, 2, (batch_size, self.spec.length, self.spec.bits), generator=generator).float()
        mask = torch.ones(batch_size, self.spec.length, dtype=torch.bool)
        mask[:, 0] = False
        return TaskBatch(inputs, torch.roll(inputs, 1, dims=1), mask)

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        per = F.binary_cross_entropy_with_logits(outputs.float(), batch.targets, reduction="none").mean(-1)
        return (per * batch.mask).sum() / batch.mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        wrong = ((outputs > 0) != (batch.targets > 0.5)) & batch.mask[..., None]
        return {"bit_errors": float(wrong.sum()) / outputs.shape[0], "loss": float(self.loss(outputs, batch))}


@spec
class ElmanSpec(ComponentSpec):
    hidden_size: int = field(default=4, validator=ge(1), doc="units")


@register("memories", "elman_for_tricks")
class Elman(Component):
    spec_cls = ElmanSpec

    def __init__(self, spec: ElmanSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.incoming = nn.Linear(self.in_features, self.spec.hidden_size)
        self.recurrent = nn.Linear(self.spec.hidden_size, self.spec.hidden_size, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        return {"h": StateEntry((self.spec.hidden_size,))}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.incoming(x_t) + self.recurrent(state["h"]))
        return h, {"h": h}

    def grow(self, amount: int, *, generator=None, outgoing_std: float = 0.01) -> Growth:
        hidden = self.spec.hidden_size
        grown = build_empty(type(self), attrs.evolve(self.spec, hidden_size=hidden + amount), like=self)
        units = torch.arange(hidden)
        resized = []
        for name, old in self.named_parameters():
            shape = grown.get_parameter(name).shape
            values = torch.zeros(shape, dtype=old.dtype)
            positions = (units,) if old.dim() == 1 else (units, torch.arange(old.shape[1]))
            if name == "recurrent.weight":
                values[units] = outgoing(shape, outgoing_std, generator, old)[units]
                positions = (units, units)
            place(old.detach(), positions, values)
            parameter = nn.Parameter(values)
            set_parameter(grown, name, parameter)
            resized.append(Resized(name, old, parameter, positions))
        return Growth(grown, tuple(resized), units, state_widener(grown, {"h": (units,)}))


#: a wiring of the Elman network and a read-out, for the echo task
ELMAN_WIRING = {
    "name": "elman_echo",
    "nodes": {
        "rnn": {"use": "elman_for_tricks", "hidden_size": 4, "in": ["x", "out@-1"]},
        "out": {"use": "linear", "out_features": 3, "in": "rnn"},
    },
    "out": "out",
}


@spec
class ConstantInitSpec(ComponentSpec):
    out_features: int = field(default=2, validator=ge(1), doc="width")


unregister("constant_init_for_tricks")


@register("layers", "constant_init_for_tricks")
class ConstantInit(Component):
    """A linear map whose constructor sets every weight to 0.125: an initialisation scheme that
    shows in the values (Darwinian regeneration must draw from it)."""

    spec_cls = ConstantInitSpec

    def __init__(self, spec: ConstantInitSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.proj = nn.Linear(self.in_features, self.spec.out_features)
        nn.init.constant_(self.proj.weight, 0.125)

    @property
    def out_features(self) -> int:
        return self.spec.out_features

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.proj(x_t), state
