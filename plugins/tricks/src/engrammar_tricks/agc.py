"""``agc``: adaptive gradient clipping (Brock et al., 2021, "High-Performance Large-Scale Image
Recognition Without Normalization").

Each unit's gradient is clipped relative to the size of its weights. For a unit i (a row of a
weight matrix, or of any parameter with two or more dimensions, the rest flattened; a vector, such
as a bias, is one unit)::

    if ‖G_i‖ / max(‖W_i‖, ε) > λ:   G_i ← λ · max(‖W_i‖, ε) / ‖G_i‖ · G_i

after every backward pass and before the trainer's own clipping (leave that at its default or set
``train.grad_clip=0`` to clip by AGC alone). The paper clips every layer but the final linear one;
``exclude`` takes parameter-name patterns (``nodes.readout.*``) to leave alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import field, gt, spec
from torch import Tensor

from .trick import Trick, trained_parameters

__all__ = ["AGC", "AGCSpec", "clip_unitwise", "unitwise_norm"]


@spec
class AGCSpec:
    """Options of ``agc``."""

    clipping: float = field(
        default=0.01, validator=gt(0.0), doc="λ: the largest gradient-to-weight norm ratio per unit"
    )
    eps: float = field(
        default=1e-3, validator=gt(0.0), doc="ε: the smallest weight norm used (so zero weights can move)"
    )
    exclude: tuple[str, ...] = field(
        factory=tuple, doc="parameter-name patterns not clipped (fnmatch, e.g. nodes.readout.*)"
    )


def unitwise_norm(tensor: Tensor) -> Tensor:
    """Norm per unit: over everything but the first dimension, or over all of a vector or scalar;
    shaped to broadcast against ``tensor``."""
    if tensor.dim() <= 1:
        return tensor.norm()
    return tensor.norm(dim=tuple(range(1, tensor.dim())), keepdim=True)


def clip_unitwise(grad: Tensor, weight: Tensor, clipping: float, eps: float) -> Tensor:
    """The gradient with every unit's norm at most ``clipping · max(‖W_i‖, eps)``."""
    limit = unitwise_norm(weight).clamp(min=eps) * clipping
    norm = unitwise_norm(grad)
    scale = limit / norm.clamp(min=1e-6)
    return torch.where(norm > limit, grad * scale, grad)


class AGC(Trick):
    """Adaptive gradient clipping, unit by unit."""

    name = "agc"
    spec_cls = AGCSpec
    spec: AGCSpec

    def __init__(self, spec: AGCSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)

    @hookimpl
    def after_backward(self, trainer: Any) -> None:
        s = self.spec
        with torch.no_grad():
            for name, parameter in trained_parameters(trainer.model):
                if parameter.grad is None or any(fnmatchcase(name, pattern) for pattern in s.exclude):
                    continue
                parameter.grad.copy_(clip_unitwise(parameter.grad, parameter, s.clipping, s.eps))
