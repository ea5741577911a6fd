"""``SimplePulse``: a classifier made of the PULSE parts, for flat inputs or token sequences.

    tokens = GELU(W_in x), read as S tokens of width D     each input vector gives S tokens
    slots = StateManager's active slots, for every sample  (learned, importance-scaled)
    routed, w = TokenToStateRouter(tokens, slots)          each token distributes itself over the slots
    slots' = StatePropagator(slots, routed)                gated update, then state-to-state attention
    logits = W_out [slots'_1, ..., slots'_S]               the slots read out side by side

A flat input x (B, input_dim) gives S tokens; a sequence (B, T, input_dim) gives S tokens per
position. Slots pruned from the state manager are left out of the update and read as zeros. Why S
tokens rather than one: on the tutorial's classification problem one token per sample (a
projection to D features) ends about 7 points below a 2-hidden-layer MLP, S tokens within 2
(docs/pulse.md).
"""

from __future__ import annotations

from torch import Tensor, nn

from .propagator import StatePropagator
from .router import TokenToStateRouter
from .state_manager import StateManager

__all__ = ["SimplePulse"]


class SimplePulse(nn.Module):
    """Classifier: x (B, input_dim) or tokens (B, T, input_dim) -> logits (B, output_dim), through
    ``num_states`` learned state slots of width ``state_dim``."""

    def __init__(
        self,
        input_dim: int,
        state_dim: int,
        num_states: int,
        output_dim: int,
        gate_type: str = "gru",
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.state_dim = state_dim
        self.num_states = num_states
        self.input_projection = nn.Linear(input_dim, num_states * state_dim)
        self.state_manager = StateManager(state_dim, max_states=num_states, initial_states=num_states)
        self.router = TokenToStateRouter(state_dim, state_dim, num_states, num_heads)
        self.propagator = StatePropagator(
            state_dim, gate_type=gate_type, num_heads=num_heads, enable_communication=True
        )
        self.output_projection = nn.Linear(num_states * state_dim, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, input_dim) or (B, T, input_dim) -> logits (B, output_dim)."""
        if x.shape[-1] != self.input_dim or x.dim() not in (2, 3):
            raise ValueError(
                f"SimplePulse: x must be (B, {self.input_dim}) or (B, T, {self.input_dim}), got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        tokens = nn.functional.gelu(self.input_projection(x)).reshape(batch, -1, self.state_dim)
        active = self.state_manager.active
        slots = self.state_manager.scaled_states().expand(batch, -1, -1)
        routed, _ = self.router(tokens, slots)
        slots = self.propagator(slots, routed, active=active)
        return self.output_projection((slots * active[:, None]).flatten(1))
