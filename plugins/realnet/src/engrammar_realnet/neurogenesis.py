"""Neurogenesis outside a trainer (``realnet.utils.neurogenesis``): grow a RealNet and its optimizer
in place, through the ``neurogenesis`` trick of engrammar-tricks (the same code that
``RealNetTrainer.expand`` and ``engrammar train --trick neurogenesis`` run)."""

from __future__ import annotations

from typing import Any

import torch
from engrammar_tricks import Neurogenesis
from torch import nn

__all__ = ["expand"]


class _Holder:
    """What the trick reads from a trainer: the model, its optimizer, the step."""

    def __init__(self, model: nn.Module, optimizer: Any) -> None:
        self.model = model
        self.optimizer = optimizer if optimizer is not None else torch.optim.SGD(model.parameters(), lr=0.0)
        self.step = 0


def expand(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    amount: int = 1,
    *,
    seed: int = 0,
    outgoing_std: float = 0.01,
) -> nn.Module:
    """Add ``amount`` neurons to ``model`` in place (new neurons silent, small random outgoing
    synapses); ``optimizer``, when given, follows with its moments kept. Returns ``model``."""
    trick = Neurogenesis(every=1, outgoing_std=outgoing_std)
    trick.generators.start(seed)
    trick.grow(_Holder(model, optimizer), step=0, amount=amount)
    return model
