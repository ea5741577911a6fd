"""``PulseLayer``: one update of a set of states by a set of tokens.

Each state reads the tokens by multi-head attention (its softmax runs over the tokens, so a state
gathers a mixture of them), and the read is the input of a gated update (:class:`StatePropagator`),
after which the states talk to each other (``enable_communication``, on by default):

    u_j = MHA(query = LN(s_j), keys = values = W_t x_1..T)      what state j reads, (D)
    s'_j = StatePropagator(s_j, u_j)                             gated, then state-to-state attention

The layer works for any number of states S and tokens T, and tokens may be other states
(``layer(states, states)``, a second layer processing the first one's states). It is not causal:
the tokens are one set. The registry's ``pulse`` memory is the causal, one-token-at-a-time form,
where each token is routed into the slots (engrammar-routers' ``token_router``) instead.
"""

from __future__ import annotations

from torch import Tensor, nn

from .debugger import debug_report
from .propagator import StatePropagator

__all__ = ["PulseLayer"]


class PulseLayer(nn.Module):
    """States (B, S, state_dim) updated by tokens (B, T, token_dim): ``layer(states, tokens) ->
    updated states (B, S, state_dim)``."""

    def __init__(
        self,
        state_dim: int,
        token_dim: int,
        num_heads: int = 4,
        gate_type: str = "gru",
        enable_communication: bool = True,
    ) -> None:
        super().__init__()
        if state_dim % num_heads:
            raise ValueError(
                f"PulseLayer.num_heads: must divide state_dim ({state_dim}) into equal heads, got {num_heads}"
            )
        self.state_dim = state_dim
        self.token_dim = token_dim
        self.token_projection = nn.Linear(token_dim, state_dim)
        self.read_norm = nn.LayerNorm(state_dim)
        self.read = nn.MultiheadAttention(state_dim, num_heads, batch_first=True)
        self.propagator = StatePropagator(
            state_dim, gate_type=gate_type, num_heads=num_heads, enable_communication=enable_communication
        )

    def forward(self, states: Tensor, tokens: Tensor) -> Tensor:
        """states (B, S, state_dim), tokens (B, T, token_dim) -> updated states (B, S, state_dim)."""
        if states.dim() != 3 or states.shape[-1] != self.state_dim:
            raise ValueError(f"PulseLayer: states must be (B, S, {self.state_dim}), got {tuple(states.shape)}")
        if tokens.dim() != 3 or tokens.shape[-1] != self.token_dim or tokens.shape[0] != states.shape[0]:
            raise ValueError(
                f"PulseLayer: tokens must be ({states.shape[0]}, T, {self.token_dim}), got {tuple(tokens.shape)}"
            )
        keys = self.token_projection(tokens)
        read, attention = self.read(self.read_norm(states), keys, keys, need_weights=True)  # attention (B, S, T)
        updated = self.propagator(states, read)
        debug_report(self, states=updated, routing=attention)
        return updated
