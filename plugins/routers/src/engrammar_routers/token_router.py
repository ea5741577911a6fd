"""``token_router``: tokens attend to a set of S state slots with multi-head attention (the PULSE
tutorial's token-to-state router).

With H heads of width d = state_dim / H, token x_t (in_features = the tutorial's token_dim) and
slot contents s_j (state_dim), each slot carrying a learned identity u_j:

    q_t,h = (W_q x_t + b_q)_h                       the token in state space, head h, (d,)
    k_j,h = (W_k (s_j + u_j))_h                     slot j's key (a bias would add the same score to every slot)
    a_t,h,j = softmax_j(q_t,h . k_j,h / sqrt(d))    head h's routing of token t over the slots
    w_t,j = (1/H) sum_h a_t,h,j                     routing weights, summing to 1 over the slots
    r_j,h = sum_t a_t,h,j q_t,h                     routed tokens: what each slot receives, (S, state_dim)

The softmax runs over the slots, not over the tokens: each token distributes itself among the
slots (routing), unlike attention where a query reads a mixture of tokens.

Two ways to call it:

- as a router under the state protocol (``moe``'s router, or alone): x (B, T, in_features) ->
  w (B, T, S), the slots having no content (s = 0: the tokens are routed by the slot identities u
  alone); causal, stateless, one step at a time or a whole sequence at once;
- ``route(tokens, states)``, the tutorial's call: tokens (B, T, in_features) and slot contents
  states (B, S, state_dim) -> routed tokens r (B, S, state_dim) and weights w (B, T, S). The tokens
  are a set here: every slot's r sums over all T tokens (not causal; a PULSE layer updates its
  states once per chunk of tokens with it). Another plugin builds it by name and calls it::

      router = engrammar.build("token_router", in_features=64, state_dim=128, num_states=8, num_heads=4)
      routed_tokens, routing_weights = router.route(tokens, states)

  and :class:`TokenToStateRouter` is the tutorial's constructor and call around the same module.
"""

from __future__ import annotations

import math

import torch
from engrammar import Router, report_routing
from engrammar.spec import ComponentSpec, _RuleBroken, field, ge, spec
from engrammar.state import State
from torch import Tensor, nn

__all__ = ["TokenRouter", "TokenRouterSpec", "TokenToStateRouter"]


@spec
class TokenRouterSpec(ComponentSpec):
    """``in_features`` is the width of a token (the tutorial's ``token_dim``)."""

    num_states: int = field(validator=ge(1), doc="S, the number of state slots routed to (filled in by moe)")
    state_dim: int = field(default=32, validator=ge(1), doc="width of a state slot")
    num_heads: int = field(default=4, validator=ge(1), doc="attention heads H (state_dim must be a multiple)")

    def __attrs_post_init__(self) -> None:
        if self.state_dim % self.num_heads:
            raise _RuleBroken(
                "num_heads", f"must divide state_dim ({self.state_dim}) into equal heads, got {self.num_heads}"
            )


class TokenRouter(Router):
    """Multi-head token-to-state routing: (B, T, in_features) -> weights over S state slots (B, T, S)."""

    spec_cls = TokenRouterSpec
    spec: TokenRouterSpec
    choices_field = "num_states"

    def __init__(self, spec: TokenRouterSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        width = self.spec.state_dim
        self.query = nn.Linear(self.in_features, width)
        self.key = nn.Linear(width, width, bias=False)  # a bias would move every slot's score alike
        self.slot_identity = nn.Parameter(torch.randn(self.spec.num_states, width))

    # ---- the attention ------------------------------------------------------------------------

    def attention(self, tokens: Tensor, states: Tensor | None) -> tuple[Tensor, Tensor]:
        """Per-head routing a (B, T, H, S) and token queries q (B, T, H, d) of ``tokens`` (B, T,
        in_features) over the slots with contents ``states`` (B, S, state_dim), or none."""
        heads = self.spec.num_heads
        slots = self.slot_identity if states is None else states + self.slot_identity
        keys = self.key(slots).unflatten(-1, (heads, -1))  # (S, H, d) or (B, S, H, d)
        queries = self.query(tokens).unflatten(-1, (heads, -1))  # (B, T, H, d)
        if states is None:
            scores = torch.einsum("bthd,shd->bths", queries, keys)
        else:
            scores = torch.einsum("bthd,bshd->bths", queries, keys)
        return torch.softmax(scores / math.sqrt(queries.shape[-1]), dim=-1), queries

    def route(self, tokens: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        """Route ``tokens`` (B, T, in_features) to the slots ``states`` (B, S, state_dim): routed
        tokens (B, S, state_dim), each slot's sum over the tokens, and routing weights (B, T, S)."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.in_features:
            raise ValueError(
                f"token_router.route: tokens must be (B, T, {self.in_features}), got {tuple(tokens.shape)}"
            )
        expected = (tokens.shape[0], self.spec.num_states, self.spec.state_dim)
        if tuple(states.shape) != expected:
            raise ValueError(
                f"token_router.route: states must be {expected} (B, S, state_dim), got {tuple(states.shape)}"
            )
        routing, queries = self.attention(tokens, states)
        routed = torch.einsum("bths,bthd->bshd", routing, queries).flatten(-2)
        weights = routing.mean(2)
        report_routing(self, weights, sequence=True)
        return routed, weights

    # ---- the router protocol ------------------------------------------------------------------

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        weights = self.attention(x, None)[0].mean(2)
        report_routing(self, weights, sequence=True)
        return weights, state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        weights = self.attention(x_t.unsqueeze(1), None)[0].mean(2)[:, 0]
        report_routing(self, weights, sequence=False)
        return weights, state


class TokenToStateRouter(nn.Module):
    """The PULSE tutorial's router: ``TokenToStateRouter(token_dim, state_dim, num_states, num_heads)``
    called as ``router(tokens, states) -> (routed_tokens, routing_weights)``; see :meth:`TokenRouter.route`.

    It holds one :class:`TokenRouter` (``.router``), the registry's ``token_router``."""

    def __init__(self, token_dim: int, state_dim: int, num_states: int, num_heads: int = 4) -> None:
        super().__init__()
        self.router = TokenRouter(
            in_features=token_dim, state_dim=state_dim, num_states=num_states, num_heads=num_heads
        )

    def forward(self, tokens: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (B, T, token_dim), states (B, S, state_dim) -> routed tokens (B, S, state_dim), weights (B, T, S)."""
        return self.router.route(tokens, states)
