"""``concat``: its inputs side by side, unchanged (a node's list of inputs is concatenated).

    both: {use: concat, in: [mem_a, mem_b]}      # (B, T, W_a + W_b)

Any node already concatenates a list of inputs; ``concat`` is the node that does only that, for
when the concatenation itself is the output or is read by several nodes.
"""

from __future__ import annotations

from torch import Tensor

from ..component import Component
from ..spec import ComponentSpec, spec
from ..state import State


@spec
class ConcatSpec(ComponentSpec):
    """No fields besides ``in_features`` (inferred inside a wiring)."""


class Concat(Component):
    """Concatenation of its inputs along features (the identity on the concatenated input)."""

    spec_cls = ConcatSpec
    spec: ConcatSpec

    @property
    def out_features(self) -> int:
        return self.in_features

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return x_t, state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return x, state
