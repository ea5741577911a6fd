"""``topk_router``: each token goes to its k best experts (noisy top-k gating; k = 1 is Switch routing).

    l_t = W x_t + b                                   router logits, (E,)
    l_t <- l_t + eps * softplus(W_noise x_t + b_noise)   noisy: true, training mode only; eps ~ N(0, 1)
    p_t = softmax(l_t)
    S_t = the k largest logits (ties: the lower expert index first)
    w_t,e = p_t,e for e in S_t, 0 elsewhere          renormalize: true divides by sum_{e in S_t} p_t,e

The defaults (k = 1, no noise, no renormalisation) are Switch routing (Fedus et al. 2021): the
kept weight is the full softmax's probability, so the router learns from the output even with one
expert per token. ``noisy: true`` is the noisy top-k gating of Shazeer et al. (2017): the noise
spreads the load early in training and its scale is learned per expert (W_noise starts at zero, so
every expert starts with standard deviation softplus(0) = ln 2). Noise is drawn only in training
mode, from torch's global generator (so ``torch.manual_seed`` fixes it); evaluation is
deterministic. ``renormalize: true`` makes the k kept weights sum to 1 (Shazeer; GShard with k = 2);
it needs k >= 2, since one renormalised weight is always 1 and the router would then learn nothing
from the output.

``capacity_factor``: each expert takes at most its fair share k/E of the tokens times the factor;
selections beyond it are dropped (weight 0), counted per sequence in time order (see
:mod:`engrammar_routers.capacity`; the counts are the router's state). The share of dropped
selections is reported as the metric ``dropped``.

Auxiliary losses (see :mod:`engrammar_routers.losses`): load balancing with f_e the share of the
selections (before capacity) and P_e the mean of p; the optional router z-loss on the logits
before noise.
"""

from __future__ import annotations

from typing import Any

import torch
from engrammar import Pooled, Router, RouterSpec, is_recording, report_metric, report_routing
from engrammar.spec import _RuleBroken, field, ge, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .capacity import accept_within_capacity
from .losses import report_balance, report_z_loss

__all__ = ["TopKRouter", "TopKRouterSpec", "top_k_choices"]


@spec
class TopKRouterSpec(RouterSpec):
    top_k: int = field(default=1, validator=ge(1), doc="experts kept per token, k (1: Switch routing)")
    noisy: bool = field(default=False, doc="learned Gaussian noise on the logits in training mode (noisy top-k)")
    renormalize: bool = field(default=False, doc="scale the k kept weights to sum to 1 (needs top_k >= 2)")
    capacity_factor: float | None = field(
        default=None,
        validator=gt(0.0),
        doc="room per expert in units of its fair share k/E of the tokens; unset: no limit",
    )
    balance_weight: float = field(default=0.01, validator=ge(0.0), doc="weight of the load-balancing loss (0: none)")
    z_loss_weight: float = field(default=0.0, validator=ge(0.0), doc="weight of the router z-loss (0: none)")

    def __attrs_post_init__(self) -> None:
        if self.top_k > self.num_experts:
            raise _RuleBroken("top_k", f"must be <= num_experts ({self.num_experts}), got {self.top_k}")
        if self.renormalize and self.top_k == 1:
            raise _RuleBroken(
                "renormalize", "needs top_k >= 2: one renormalised weight is always 1, so the router would not learn"
            )


def top_k_choices(logits: Tensor, k: int) -> Tensor:
    """Indices (..., k) of the k largest logits, largest first; equal logits: the lower index first."""
    return torch.sort(logits, dim=-1, descending=True, stable=True).indices[..., :k]


class TopKRouter(Router):
    """Top-k router, optionally noisy and capacity-limited: (B, T, in_features) -> (B, T, E), k non-zero weights per token."""

    spec_cls = TopKRouterSpec
    spec: TopKRouterSpec

    def __init__(self, spec: TopKRouterSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        experts = self.spec.num_experts
        self.gate = nn.Linear(self.in_features, experts)
        if self.spec.noisy:
            self.noise = nn.Linear(self.in_features, experts)
            with torch.no_grad():  # every expert starts with noise scale softplus(0) = ln 2
                self.noise.weight.zero_()
                self.noise.bias.zero_()

    def state_spec(self) -> dict[str, Any]:
        if self.spec.capacity_factor is None:
            return {}
        return {
            "load": StateEntry((self.spec.num_experts,), dtype="int64", doc="selections each expert accepted so far"),
            "tokens": StateEntry((), dtype="int64", doc="tokens of this sequence so far"),
        }

    def _route(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``x`` (B, T, in_features) -> weights (B, T, E) and the new state."""
        spec = self.spec
        clean = self.gate(x)
        logits = clean
        if spec.noisy and self.training:
            logits = clean + torch.randn_like(clean) * nn.functional.softplus(self.noise(x))
        probabilities = torch.softmax(logits, dim=-1)
        chosen = top_k_choices(logits, spec.top_k)
        kept = probabilities.gather(-1, chosen)
        if spec.renormalize:
            kept = kept / kept.sum(-1, keepdim=True)
        weights = torch.zeros_like(probabilities).scatter(-1, chosen, kept)
        selected = torch.zeros_like(probabilities, dtype=torch.bool).scatter(-1, chosen, True)
        report_balance(self, probabilities, selected.to(probabilities.dtype) / spec.top_k, spec.balance_weight)
        report_z_loss(self, clean, spec.z_loss_weight)
        if spec.capacity_factor is not None:
            accepted, load, tokens = accept_within_capacity(
                selected, state["load"], state["tokens"], spec.capacity_factor, spec.top_k
            )
            weights = weights * accepted
            state = {"load": load, "tokens": tokens}
            if is_recording(self):
                dropped = (selected & ~accepted).sum()
                report_metric(self, "dropped", Pooled.mean(dropped / selected.sum(), float(selected.sum())))
        return weights, state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        weights, state = self._route(x_t.unsqueeze(1), state)
        report_routing(self, weights[:, 0], sequence=False)
        return weights[:, 0], state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        weights, state = self._route(x, state)
        report_routing(self, weights, sequence=True)
        return weights, state
