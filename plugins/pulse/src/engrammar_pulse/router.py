"""``TokenToStateRouter``: the PULSE tutorial's router, ``token_router`` of engrammar-routers.

The routing itself (multi-head attention whose softmax runs over the state slots) is
engrammar-routers' ``token_router``, built here by registry name; this class only gives it the
tutorial's constructor and call. See docs/routers.md, "token_router", for the algebra.
"""

from __future__ import annotations

import engrammar
from torch import Tensor, nn

from .debugger import debug_report

__all__ = ["TokenToStateRouter", "build_token_router"]


def build_token_router(token_dim: int, state_dim: int, num_states: int, num_heads: int) -> nn.Module:
    """engrammar-routers' ``token_router`` for tokens of width ``token_dim`` and ``num_states``
    slots of width ``state_dim``; call ``.route(tokens, states)`` on it."""
    return engrammar.build(
        "token_router", in_features=token_dim, state_dim=state_dim, num_states=num_states, num_heads=num_heads
    )


class TokenToStateRouter(nn.Module):
    """Routes tokens (B, T, token_dim) into state slots (B, S, state_dim): ``router(tokens, states)
    -> (routed_tokens (B, S, state_dim), routing_weights (B, T, S))``, the weights of each token
    summing to 1 over the slots."""

    def __init__(self, token_dim: int, state_dim: int, num_states: int, num_heads: int = 4) -> None:
        super().__init__()
        self.router = build_token_router(token_dim, state_dim, num_states, num_heads)

    def forward(self, tokens: Tensor, states: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (B, T, token_dim), states (B, S, state_dim) -> routed tokens (B, S, state_dim),
        routing weights (B, T, S)."""
        routed_tokens, routing_weights = self.router.route(tokens, states)
        debug_report(self, routing=routing_weights)
        return routed_tokens, routing_weights
