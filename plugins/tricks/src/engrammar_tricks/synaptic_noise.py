"""``synaptic_noise``: Gaussian noise added to every weight, as in RealNet's documentation
("thermal noise"), where it is on by default with a standard deviation of 1e-6.

After every optimizer step, so before the next step's forward pass::

    w ← w + std · ε,   ε ~ N(0, 1) drawn for every entry of every trained parameter

The noise stays in the weights (it is a perturbation of them, not of one forward pass). Its random
numbers come from the trick's own generator, seeded from the run's seed and saved in checkpoints,
so a resumed run draws the same noise as an uninterrupted one, and every process of a data-parallel
run draws the same noise (the replicas stay equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import field, ge, spec

from .trick import Generators, Trick, trained_parameters

__all__ = ["SynapticNoise", "SynapticNoiseSpec"]


@spec
class SynapticNoiseSpec:
    """Options of ``synaptic_noise``."""

    std: float = field(default=1e-6, validator=ge(0.0), doc="standard deviation of the noise added to every weight")


class SynapticNoise(Trick):
    """Adds N(0, std²) to every trained parameter after each optimizer step."""

    name = "synaptic_noise"
    spec_cls = SynapticNoiseSpec
    spec: SynapticNoiseSpec

    def __init__(self, spec: SynapticNoiseSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.generators = Generators(self.name)

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        self.generators.start(trainer.config.seed)

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        std = self.spec.std
        with torch.no_grad():
            for _, parameter in trained_parameters(trainer.model):
                parameter.add_(self.generators.normal_like(parameter) * std)

    def state(self) -> dict[str, Any]:
        return {"generators": self.generators.state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state(state["generators"])
