"""``moe``: a mixture of experts gating between the outputs of named nodes.

    mix: {use: moe, router: ctrl, experts: [mem_a, mem_b], top_k: 1}

A router (a linear map of the ``router`` input) gives each expert a probability per time step,
p = softmax(W router_t + b). With ``top_k`` unset the output is the soft mixture sum_e p_e expert_e;
with ``top_k = k`` only the k most probable experts count, each with its probability p_e (not
renormalised, so the router keeps a gradient even for k = 1, as in the Switch Transformer).

The experts are nodes of the graph and all of them run at every step: a memory must see every
step to keep its state, so routing chooses how their outputs are mixed, not which of them run.

Load balancing (Switch Transformer): over the N tokens routed while a recording is open, f_e is
the fraction of routing weight assigned to expert e (top-k: the share of the k selections; soft:
the mean probability, held constant) and P_e the mean probability; the loss is
``balance_weight * E * sum_e f_e P_e``, 1 * balance_weight when the load is uniform. It is reported
as ``load_balance`` through :func:`engrammar.report_loss`, pooled over every token of the recording
(:class:`engrammar.Pooled`), so a whole sequence run layer-major, the same sequence stepped inside a
graph's loop, and a run of public ``step`` calls inside one recording all give one loss over the
same tokens. With no recording open nothing is computed or kept.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..component import Component
from ..recorder import Pooled, is_recording, report_loss
from ..spec import _RuleBroken, field, ge, spec
from ..state import State
from ..wiring.ports import MANY, ONE, MultiInputSpec


@spec
class MixtureOfExpertsSpec(MultiInputSpec):
    """``input_sizes``: (router width, then one width per expert, all equal); inferred in a wiring."""

    top_k: int | None = field(default=None, validator=ge(1), doc="experts kept per step; unset: soft mixture of all")
    balance_weight: float = field(default=0.01, validator=ge(0.0), doc="weight of the load-balancing loss")

    def __attrs_post_init__(self) -> None:
        sizes = self.input_sizes
        if sizes is None:
            if self.in_features is not None:
                raise ValueError("moe needs input_sizes (router width, then each expert's); a wiring infers it")
            return
        if len(sizes) < 2:
            raise ValueError(f"moe needs a router and at least one expert, got input_sizes {sizes!r}")
        if len(set(sizes[1:])) > 1:
            raise ValueError(f"the experts must have one width, got {sizes[1:]!r}")
        if self.top_k is not None and self.top_k > len(sizes) - 1:  # an error at the field: nodes.mix.top_k
            raise _RuleBroken("top_k", f"must be <= the number of experts ({len(sizes) - 1}), got {self.top_k}")


class MixtureOfExperts(Component):
    """Router-weighted mixture of expert outputs: (B, T, R + E * W), the router and E experts side by side -> (B, T, W)."""

    spec_cls = MixtureOfExpertsSpec
    spec: MixtureOfExpertsSpec
    input_ports: ClassVar[dict[str, str]] = {"router": ONE, "experts": MANY}
    same_width: ClassVar[tuple[str, ...]] = ("experts",)

    def __init__(self, spec: MixtureOfExpertsSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        sizes = self.spec.input_sizes
        assert sizes is not None  # the spec's check guarantees it once in_features is set
        self.router_features = sizes[0]
        self.num_experts = len(sizes) - 1
        self.width = sizes[1]
        self.router = nn.Linear(self.router_features, self.num_experts)

    @property
    def out_features(self) -> int:
        return self.width

    # ---- routing ----------------------------------------------------------------------------

    def routing(self, router_input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixing weights, probabilities and assignment shares, each (..., E), for a router input."""
        probabilities = torch.softmax(self.router(router_input), dim=-1)
        k = self.spec.top_k
        if k is None or k >= self.num_experts:
            return probabilities, probabilities, probabilities.detach()
        top = probabilities.topk(k, dim=-1)
        weights = torch.zeros_like(probabilities).scatter(-1, top.indices, top.values)
        share = torch.zeros_like(probabilities).scatter(-1, top.indices, 1.0 / k)
        return weights, probabilities, share

    def _mix(self, x: Tensor) -> Tensor:
        router_input = x[..., : self.router_features]
        experts = x[..., self.router_features :].unflatten(-1, (self.num_experts, self.width))
        weights, probabilities, share = self.routing(router_input)
        if is_recording(self):
            report_loss(self, "load_balance", self._balance_statistics(probabilities, share))
        return (weights.unsqueeze(-1) * experts).sum(-2)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self._mix(x_t), state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._mix(x), state

    # ---- load balancing ---------------------------------------------------------------------

    def _balance_statistics(self, probabilities: Tensor, share: Tensor) -> Pooled:
        """Sums of probabilities and shares over the routed tokens (..., E), and their count."""
        probabilities = probabilities.reshape(-1, self.num_experts)
        share = share.reshape(-1, self.num_experts)
        return Pooled((probabilities.sum(0), share.sum(0), float(probabilities.shape[0])), self._balance_loss)

    def _balance_loss(self, probability_sum: Tensor, share_sum: Tensor, tokens: float) -> Tensor:
        """``balance_weight * E * sum_e f_e P_e`` from the pooled sums."""
        loss = self.num_experts * ((share_sum / tokens) * (probability_sum / tokens)).sum()
        return self.spec.balance_weight * loss
