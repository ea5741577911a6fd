"""``ema_weights``: an exponential moving average of the parameters, evaluated in their place.

After every optimizer step (t: updates so far, 0 at the first)::

    θ̄ ← d_t · θ̄ + (1 - d_t) · θ,    d_t = decay, or with warmup min(decay, (1 + t) / (10 + t))

The average starts at the initial parameters. Every evaluation of the run (the metrics logged, the
best checkpoint, early stopping) uses θ̄: it is put in place for the evaluation and the trained
parameters are put back after it. θ̄ is saved in checkpoints (``checkpoint["tricks"]["ema_weights"]``);
:func:`ema_state_dict` gives a checkpoint's model weights with the average in place, to evaluate
or export. Kept in float32 for parameters of lower precision. A parameter whose shape changes
(neurogenesis) restarts its average from its current value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import field, ge, lt, spec
from torch import Tensor

from .trick import CHECKPOINT_KEY, Trick, trained_parameters

__all__ = ["EMAWeights", "EMAWeightsSpec", "ema_state_dict"]


@spec
class EMAWeightsSpec:
    """Options of ``ema_weights``."""

    decay: float = field(default=0.999, validator=[ge(0.0), lt(1.0)], doc="d: weight of the old average per step")
    warmup: bool = field(default=True, doc="use min(decay, (1 + t) / (10 + t)): early averages forget faster")


class EMAWeights(Trick):
    """Keeps an exponential moving average of the parameters and evaluates it."""

    name = "ema_weights"
    spec_cls = EMAWeightsSpec
    spec: EMAWeightsSpec

    def __init__(self, spec: EMAWeightsSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.average: dict[str, Tensor] = {}
        self.updates = 0
        self._trained: dict[str, Tensor] | None = None

    def decay_at(self, updates: int) -> float:
        """d_t after ``updates`` earlier updates."""
        if self.spec.warmup:
            return min(self.spec.decay, (1.0 + updates) / (10.0 + updates))
        return self.spec.decay

    @staticmethod
    def _copy(parameter: Tensor) -> Tensor:
        dtype = torch.float32 if parameter.dtype in (torch.float16, torch.bfloat16) else parameter.dtype
        return parameter.detach().to(dtype).clone()

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        if not self.average:
            self.average = {name: self._copy(p) for name, p in trained_parameters(trainer.model)}

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        weight = 1.0 - self.decay_at(self.updates)
        with torch.no_grad():
            for name, parameter in trained_parameters(trainer.model):
                average = self.average.get(name)
                if average is None or average.shape != parameter.shape:
                    self.average[name] = self._copy(parameter)
                else:
                    average.lerp_(parameter.detach().to(average.dtype), weight)
        self.updates += 1

    @hookimpl
    def on_evaluate_start(self, trainer: Any) -> None:
        self._trained = {}
        with torch.no_grad():
            for name, parameter in trained_parameters(trainer.model):
                average = self.average.get(name)
                if average is not None and average.shape == parameter.shape:
                    self._trained[name] = parameter.detach().clone()
                    parameter.copy_(average)

    @hookimpl
    def on_evaluate_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        if self._trained is None:
            return
        with torch.no_grad():
            for name, parameter in trained_parameters(trainer.model):
                if name in self._trained:
                    parameter.copy_(self._trained[name])
        self._trained = None

    def state(self) -> dict[str, Any]:
        return {"average": dict(self.average), "updates": self.updates}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.average = {name: tensor.clone() for name, tensor in state["average"].items()}
        self.updates = int(state["updates"])


def ema_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Tensor]:
    """The model weights of a checkpoint (a loaded one: ``engrammar_train.load_checkpoint(path)``)
    with the moving average of ``ema_weights`` in place of the trained parameters."""
    saved = (checkpoint.get(CHECKPOINT_KEY) or {}).get(EMAWeights.name)
    if saved is None:
        raise KeyError("the checkpoint holds no ema_weights state (was the run trained with ema_weights?)")
    weights = dict(checkpoint["model"])
    for name, average in saved["average"].items():
        weights[name] = average.to(weights[name].dtype)
    return weights
