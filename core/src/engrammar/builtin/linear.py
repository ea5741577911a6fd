"""``linear``: the stateless reference component (an affine map applied at every time step)."""

from __future__ import annotations

from torch import Tensor, nn

from ..component import Component
from ..spec import ComponentSpec, field, ge, spec
from ..state import State


@spec
class LinearSpec(ComponentSpec):
    out_features: int = field(validator=ge(1), doc="width of the output")
    bias: bool = field(default=True, doc="learn an additive bias")


class Linear(Component):
    """Stateless affine map y_t = W x_t + b, applied at every time step."""

    spec_cls = LinearSpec
    spec: LinearSpec

    def __init__(self, spec: LinearSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.proj = nn.Linear(self.in_features, self.spec.out_features, bias=self.spec.bias)

    @property
    def out_features(self) -> int:
        return self.spec.out_features

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.proj(x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.proj(x), state  # no state: every step at once
