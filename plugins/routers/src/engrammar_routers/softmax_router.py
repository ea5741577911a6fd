"""``softmax_router``: dense routing, every expert weighted by a softmax of a linear map.

    l_t = W x_t + b                      router logits, (E,)
    w_t = softmax(l_t / tau)             weights over the E experts, summing to 1

tau is the ``temperature`` (below 1 sharpens the weights, above 1 flattens them). Every expert
gets a non-zero weight at every step: a soft mixture. Auxiliary losses (see
:mod:`engrammar_routers.losses`): load balancing with f = w held constant (it pushes the mean
weights towards uniform), and the optional router z-loss on l.
"""

from __future__ import annotations

import torch
from engrammar import Router, RouterSpec, report_routing
from engrammar.spec import field, ge, gt, spec
from engrammar.state import State
from torch import Tensor, nn

from .losses import report_balance, report_z_loss

__all__ = ["SoftmaxRouter", "SoftmaxRouterSpec"]


@spec
class SoftmaxRouterSpec(RouterSpec):
    temperature: float = field(default=1.0, validator=gt(0.0), doc="softmax temperature tau")
    balance_weight: float = field(default=0.01, validator=ge(0.0), doc="weight of the load-balancing loss (0: none)")
    z_loss_weight: float = field(default=0.0, validator=ge(0.0), doc="weight of the router z-loss (0: none)")


class SoftmaxRouter(Router):
    """Dense softmax router: (B, T, in_features) -> softmax((W x + b) / tau) over E experts, (B, T, E)."""

    spec_cls = SoftmaxRouterSpec
    spec: SoftmaxRouterSpec

    def __init__(self, spec: SoftmaxRouterSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.gate = nn.Linear(self.in_features, self.spec.num_experts)

    def _route(self, x: Tensor, *, sequence: bool) -> Tensor:
        logits = self.gate(x)
        weights = torch.softmax(logits / self.spec.temperature, dim=-1)
        report_balance(self, weights, weights.detach(), self.spec.balance_weight)
        report_z_loss(self, logits, self.spec.z_loss_weight)
        report_routing(self, weights, sequence=sequence)
        return weights

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self._route(x_t, sequence=False), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._route(x, sequence=True), state
