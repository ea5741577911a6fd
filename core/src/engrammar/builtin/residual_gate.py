"""``residual_gate``: a learned, per-feature gate between a path (a memory, say) and its bypass.

    g_t = sigmoid(W [path_t; bypass_t] + b)          per feature, in (0, 1)
    y_t = g_t * path_t + (1 - g_t) * bypass_t

    gated: {use: residual_gate, path: mem, bypass: x}     # path and bypass of one width

With ``init_bias`` b > 0 the gate starts open towards the path, b < 0 towards the bypass; W starts
at zero, so at initialisation every feature mixes with weight sigmoid(init_bias).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..component import Component
from ..spec import field, spec
from ..state import State
from ..wiring.ports import ONE, MultiInputSpec


@spec
class ResidualGateSpec(MultiInputSpec):
    """``input_sizes``: (path width, bypass width), equal (inferred inside a wiring)."""

    init_bias: float = field(default=0.0, doc="initial gate bias b: > 0 favours the path, < 0 the bypass")

    def __attrs_post_init__(self) -> None:
        sizes = self.input_sizes
        if sizes is not None and (len(sizes) != 2 or sizes[0] != sizes[1]):
            raise ValueError(f"a residual gate takes a path and a bypass of one width, got input_sizes {sizes!r}")
        if sizes is None and self.in_features is not None and self.in_features % 2:
            raise ValueError(f"in_features {self.in_features} must be even: path and bypass, side by side")


class ResidualGate(Component):
    """Per-feature learned mix of a path and its bypass: (B, T, 2W), path then bypass -> (B, T, W)."""

    spec_cls = ResidualGateSpec
    spec: ResidualGateSpec
    input_ports: ClassVar[dict[str, str]] = {"path": ONE, "bypass": ONE}
    same_width: ClassVar[tuple[str, ...]] = ("path", "bypass")

    def __init__(self, spec: ResidualGateSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.width = self.in_features // 2
        self.gate = nn.Linear(self.in_features, self.width)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, self.spec.init_bias)

    @property
    def out_features(self) -> int:
        return self.width

    def _mix(self, x: Tensor) -> Tensor:
        path, bypass = x[..., : self.width], x[..., self.width :]
        gate = torch.sigmoid(self.gate(x))
        return bypass + gate * (path - bypass)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self._mix(x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._mix(x), state
