"""Support for the training tests (no tests here): a task, a component with dropout and a stateful
training extension, defined here so that the training tests need nothing but core. Registered at
run time; re-importing this module (pytest collects it too) replaces the registrations."""

from __future__ import annotations

import torch
from engrammar.component import Component
from engrammar.hooks import hookimpl
from engrammar.registry import register, unregister
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import State, StateEntry
from engrammar.task import Task, TaskBatch, TaskSpec
from torch import Tensor, nn
from torch.nn import functional as F


@spec
class EchoSpec(TaskSpec):
    bits: int = field(default=3, validator=ge(1), doc="width")
    length: int = field(default=8, validator=ge(2), doc="steps")
    delay: int = field(default=1, validator=ge(0), doc="the target is the input this many steps earlier")


unregister("echo_for_tests")
unregister("noisy_rnn_for_tests")


@register("tasks", "echo_for_tests")
class Echo(Task):
    """Repeat the input bits ``delay`` steps later (loss: BCE; metric: bits wrong per sequence)."""

    spec_cls = EchoSpec
    metric_name = "bit_errors"

    @property
    def in_features(self) -> int:
        return self.spec.bits

    @property
    def out_features(self) -> int:
        return self.spec.bits

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        inputs = torch.randint(0, 2, (batch_size, s.length, s.bits), generator=generator).float()
        targets = torch.roll(inputs, s.delay, dims=1)
        mask = torch.ones(batch_size, s.length, dtype=torch.bool)
        mask[:, : s.delay] = False
        return TaskBatch(inputs, targets, mask)

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        per = F.binary_cross_entropy_with_logits(outputs.float(), batch.targets, reduction="none").mean(-1)
        return (per * batch.mask).sum() / batch.mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        wrong = ((outputs > 0) != (batch.targets > 0.5)) & batch.mask[..., None]
        return {"bit_errors": float(wrong.sum()) / outputs.shape[0], "loss": float(self.loss(outputs, batch))}


@spec
class NoisyRNNSpec(ComponentSpec):
    hidden_size: int = field(default=8, validator=ge(1), doc="width")
    dropout: float = field(default=0.2, doc="dropout on the input (uses the global generator)")


@register("memories", "noisy_rnn_for_tests")
class NoisyRNN(Component):
    """tanh RNN with input dropout: its training depends on the global random generator."""

    spec_cls = NoisyRNNSpec

    def __init__(self, spec: NoisyRNNSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.cell = nn.RNNCell(self.in_features, self.spec.hidden_size)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        return {"h": StateEntry((self.spec.hidden_size,))}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = self.cell(F.dropout(x_t, self.spec.dropout, self.training), state["h"])
        return h, {"h": h}


class GradientEcho:
    """A training extension with state: adds half of the previous step's gradient to each new one
    (like ghost gradients), and saves that gradient in checkpoints."""

    def __init__(self) -> None:
        self.previous: dict[str, Tensor] = {}

    @hookimpl
    def after_backward(self, trainer) -> None:
        for name, param in trainer.model.named_parameters():
            if param.grad is not None and name in self.previous:
                param.grad += 0.5 * self.previous[name]

    @hookimpl
    def after_optimizer_step(self, trainer, optimizer) -> None:
        self.previous = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.grad is not None}

    @hookimpl
    def on_checkpoint_save(self, trainer, checkpoint) -> None:
        checkpoint["gradient_echo"] = dict(self.previous)

    @hookimpl
    def on_checkpoint_load(self, trainer, checkpoint) -> None:
        self.previous = dict(checkpoint["gradient_echo"])
