"""``ghost_gradients``: gradient persistence, as in RealNet's documentation.

Instead of starting every step from a zero gradient, a fraction ``persistence`` (ρ) of the gradient
the previous step used is kept as a decaying echo::

    g̃_t = g_t + ρ · g̃_{t-1}        (g_t: this step's gradient; g̃_t: the one the optimizer uses)

so a gradient seen k steps ago still weighs ρ^k. The echo is added once per step, after every
backward pass and before clipping; ``g̃_t`` is what is left in ``param.grad`` when the optimizer
steps (after clipping and the other tricks), and that is what echoes. The echoes are saved in
checkpoints. A parameter whose shape changes (neurogenesis) drops its echo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import field, ge, lt, spec
from torch import Tensor

from .trick import Trick, trained_parameters

__all__ = ["GhostGradients", "GhostGradientsSpec"]


@spec
class GhostGradientsSpec:
    """Options of ``ghost_gradients``."""

    persistence: float = field(
        default=0.1, validator=[ge(0.0), lt(1.0)], doc="ρ in [0, 1): share of the previous step's gradient kept"
    )


class GhostGradients(Trick):
    """Keeps a share of the previous step's gradient (persistence) instead of zeroing it."""

    name = "ghost_gradients"
    spec_cls = GhostGradientsSpec
    spec: GhostGradientsSpec

    def __init__(self, spec: GhostGradientsSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.echo: dict[str, Tensor] = {}

    @hookimpl
    def after_backward(self, trainer: Any) -> None:
        with torch.no_grad():
            for name, parameter in trained_parameters(trainer.model):
                echo = self.echo.get(name)
                if echo is None or echo.shape != parameter.shape:
                    continue
                if parameter.grad is None:
                    parameter.grad = echo.to(parameter.dtype).clone()
                else:
                    parameter.grad.add_(echo)

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        persistence = self.spec.persistence
        self.echo = {
            name: parameter.grad.detach() * persistence
            for name, parameter in trained_parameters(trainer.model)
            if parameter.grad is not None
        }

    def state(self) -> dict[str, Any]:
        return {"echo": dict(self.echo)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.echo = dict(state["echo"])
