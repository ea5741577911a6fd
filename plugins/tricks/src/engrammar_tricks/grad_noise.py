"""``grad_noise``: annealed Gaussian gradient noise (Neelakantan et al., 2015, "Adding Gradient Noise
Improves Learning for Very Deep Networks").

At step t (0 for the first step), after every backward pass and before clipping::

    g_t ← g_t + N(0, σ_t²),   σ_t² = η / (1 + t)^γ

with the paper's γ = 0.55 and η chosen from {0.01, 0.3, 1.0} (default 0.01). The noise comes from
the trick's own generator (seeded from the run's seed, saved in checkpoints; equal on every process).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import field, ge, gt, spec

from .trick import Generators, Trick, trained_parameters

__all__ = ["GradNoise", "GradNoiseSpec", "noise_std"]


@spec
class GradNoiseSpec:
    """Options of ``grad_noise``."""

    eta: float = field(default=0.01, validator=gt(0.0), doc="η: the noise variance at the first step")
    gamma: float = field(default=0.55, validator=ge(0.0), doc="γ: how fast the variance decays, σ² = η / (1 + t)^γ")


def noise_std(eta: float, gamma: float, step: int) -> float:
    """σ_t = sqrt(η / (1 + t)^γ)."""
    return math.sqrt(eta / (1.0 + step) ** gamma)


class GradNoise(Trick):
    """Adds annealed Gaussian noise to every gradient."""

    name = "grad_noise"
    spec_cls = GradNoiseSpec
    spec: GradNoiseSpec

    def __init__(self, spec: GradNoiseSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.generators = Generators(self.name)

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        self.generators.start(trainer.config.seed)

    @hookimpl
    def after_backward(self, trainer: Any) -> None:
        std = noise_std(self.spec.eta, self.spec.gamma, int(trainer.step))
        with torch.no_grad():
            for _, parameter in trained_parameters(trainer.model):
                if parameter.grad is not None:
                    parameter.grad.add_(self.generators.normal_like(parameter.grad) * std)

    def state(self) -> dict[str, Any]:
        return {"generators": self.generators.state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state(state["generators"])
