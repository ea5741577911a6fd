"""``sum``: the elementwise sum of inputs of one width.

    total: {use: sum, in: [mem_a, mem_b, x]}     # each list item is one summand, all of width W

Unlike other nodes, a list given to ``sum`` is not concatenated: each item is a summand (an item
may itself be a list, concatenated first).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ..component import Component
from ..spec import spec
from ..state import State
from ..wiring.ports import MANY, MultiInputSpec


@spec
class SumSpec(MultiInputSpec):
    """``input_sizes``: the summands' widths, all equal (inferred inside a wiring)."""

    def __attrs_post_init__(self) -> None:
        if self.input_sizes is not None and len(set(self.input_sizes)) > 1:
            raise ValueError(f"the summands must have one width, got input_sizes {self.input_sizes!r}")


class Sum(Component):
    """Elementwise sum of its inputs: (B, T, n * W) holding n summands -> (B, T, W)."""

    spec_cls = SumSpec
    spec: SumSpec
    input_ports: ClassVar[dict[str, str]] = {"in": MANY}
    same_width: ClassVar[tuple[str, ...]] = ("in",)

    def __init__(self, spec: SumSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        sizes = self.spec.input_sizes or (self.in_features,)
        self.num_inputs = len(sizes)
        self.width = sizes[0]

    @property
    def out_features(self) -> int:
        return self.width

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return x_t.unflatten(-1, (self.num_inputs, self.width)).sum(-2), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return x.unflatten(-1, (self.num_inputs, self.width)).sum(-2), state
