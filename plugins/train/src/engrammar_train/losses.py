"""Losses for the user's own data, by name or as a callable, each with its metrics.

Every loss sees the model's outputs and the targets at the positions that count (the mask), as
``outputs`` (N, C) and ``targets`` (N,) class indices or (N, C) values, and returns their mean:

- ``cross_entropy``: class indices, logits in; metrics ``loss`` and ``accuracy``;
- ``bce``: binary cross-entropy on logits, targets in [0, 1]; metrics ``loss`` and ``accuracy``
  (a logit above 0 against a target above 0.5, per output);
- ``mse``: mean squared error; metric ``loss``;
- a callable ``loss(outputs, targets) -> scalar tensor`` (a mean over the N positions); metric ``loss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch
from engrammar.spec import SpecError
from torch import Tensor
from torch.nn import functional as F

__all__ = ["LOSSES", "Loss", "resolve_loss"]


@attrs.frozen
class Loss:
    """A loss and what it expects. ``classes``: targets are class indices (one output per class)."""

    name: str
    function: Callable[[Tensor, Tensor], Tensor]
    classes: bool
    metric_name: str
    higher_is_better: bool

    def metrics(self, outputs: Tensor, targets: Tensor) -> dict[str, float]:
        """Means over the N positions given: ``loss`` and, for classes and bce, ``accuracy``."""
        values = {"loss": float(self.function(outputs, targets))}
        if self.name == "cross_entropy":
            values["accuracy"] = float((outputs.argmax(-1) == targets).float().mean())
        elif self.name == "bce":
            values["accuracy"] = float(((outputs > 0) == (targets > 0.5)).float().mean())
        return values


def _cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(outputs, targets)


def _bce(outputs: Tensor, targets: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype))


def _mse(outputs: Tensor, targets: Tensor) -> Tensor:
    return F.mse_loss(outputs, targets.to(outputs.dtype))


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", _cross_entropy, True, "accuracy", True),
    "bce": Loss("bce", _bce, False, "accuracy", True),
    "mse": Loss("mse", _mse, False, "loss", False),
}


def resolve_loss(loss: str | Callable[[Tensor, Tensor], Tensor] | Loss | None, targets: Tensor) -> Loss:
    """The loss named (or given); None picks ``cross_entropy`` for integer targets, else ``mse``."""
    if isinstance(loss, Loss):
        return loss
    if loss is None:
        return LOSSES["mse" if torch.is_floating_point(targets) else "cross_entropy"]
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise SpecError("loss", f"unknown loss {loss!r}; choose {', '.join(LOSSES)} or pass a callable")
        return LOSSES[loss]
    if callable(loss):
        name = getattr(loss, "__name__", type(loss).__name__)
        return Loss(name, _checked(loss), False, "loss", False)
    raise SpecError("loss", f"expected a loss name or a callable, got {loss!r}")


def _checked(function: Callable[[Tensor, Tensor], Any]) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(outputs: Tensor, targets: Tensor) -> Tensor:
        value = function(outputs, targets)
        if not isinstance(value, Tensor) or value.dim() != 0:
            raise SpecError("loss", f"the loss function must return a scalar tensor, got {value!r:.60}")
        return value

    return loss
