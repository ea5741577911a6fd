"""Gate activations selectable by ``gate_type``.

- ``sigmoid``: σ(x), the paper's gate.
- ``steep_sigmoid``: σ(k x) with steepness k (``gate_steepness``): closer to a step, still smooth.
- ``heaviside``: 1[x > 0] in the forward pass; the backward pass uses σ'(x) (a straight-through
  estimator), so a hard binary gate still trains.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["GATE_TYPES", "gate"]

GATE_TYPES = ("sigmoid", "steep_sigmoid", "heaviside")


def gate(x: Tensor, gate_type: str, steepness: float) -> Tensor:
    """Apply the gate activation ``gate_type`` to raw values ``x`` (any shape); values in [0, 1]."""
    if gate_type == "sigmoid":
        return torch.sigmoid(x)
    if gate_type == "steep_sigmoid":
        return torch.sigmoid(steepness * x)
    if gate_type == "heaviside":
        soft = torch.sigmoid(x)
        hard = (x > 0).to(x.dtype)
        # forward value: hard; gradient: that of the sigmoid
        return soft + (hard - soft).detach()
    raise ValueError(f"unknown gate_type {gate_type!r} (choose from {', '.join(GATE_TYPES)})")
