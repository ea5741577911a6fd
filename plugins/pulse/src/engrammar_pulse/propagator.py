"""``StatePropagator``: the gated update of state vectors, and optional state-to-state attention.

For a state s (D) and an input u (D), both batch first, (B, D) or (B, S, D) for S states:

    gru:   r = σ(W_r [u, s]),  z = σ(W_z [u, s])                reset and update gates
           c = tanh(W_c u + U_c (r ⊙ s))                        candidate
           s' = z ⊙ s + (1 − z) ⊙ c                             keep z, take 1 − z of the candidate
    lstm:  f = σ(W_f [u, s]),  i = σ(W_i [u, s])                forget and input gates, independent
           s' = f ⊙ s + i ⊙ tanh(W_c [u, s])                    the cell update of an LSTM

The LSTM form keeps the state as the cell itself: the caller carries one tensor per state, so there
is no separate hidden output and no output gate. With ``enable_communication`` the S states of a
sample then exchange information once by multi-head self-attention, added back residually:

    s'' = s' + MHA(LN(s'), LN(s'), LN(s'))                      over the S states of each sample

A single state (B, D) has nobody to talk to; communication leaves it as the gated update made it.
The same weights serve every state: states are interchangeable slots, told apart by their contents.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .debugger import debug_report

__all__ = ["GATE_TYPES", "StatePropagator"]

#: the gated updates by name
GATE_TYPES = ("gru", "lstm")


class StatePropagator(nn.Module):
    """Gated (GRU- or LSTM-style) update of state vectors by inputs, with optional state-to-state
    attention: ``propagator(prev_state, new_input) -> updated_state``, each (B, D) or (B, S, D)."""

    def __init__(
        self, state_dim: int, gate_type: str = "gru", num_heads: int = 4, enable_communication: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(state_dim, int) or state_dim < 1:
            raise ValueError(f"StatePropagator.state_dim: must be an int >= 1, got {state_dim!r}")
        if gate_type not in GATE_TYPES:
            raise ValueError(f"StatePropagator.gate_type: must be one of {', '.join(GATE_TYPES)}, got {gate_type!r}")
        if enable_communication and (num_heads < 1 or state_dim % num_heads):
            raise ValueError(
                f"StatePropagator.num_heads: must divide state_dim ({state_dim}) into equal heads, got {num_heads}"
            )
        self.state_dim = state_dim
        self.gate_type = gate_type
        self.num_heads = num_heads
        self.enable_communication = enable_communication
        self.gates = nn.Linear(2 * state_dim, 2 * state_dim)  # gru: reset, update; lstm: forget, input
        if gate_type == "gru":
            self.candidate_input = nn.Linear(state_dim, state_dim)
            self.candidate_state = nn.Linear(state_dim, state_dim, bias=False)
        else:
            self.candidate = nn.Linear(2 * state_dim, state_dim)
            with torch.no_grad():  # forget little at first, as LSTMs are usually started
                self.gates.bias[:state_dim].fill_(1.0)
        if enable_communication:
            self.communication_norm = nn.LayerNorm(state_dim)
            self.communication = nn.MultiheadAttention(state_dim, num_heads, batch_first=True)

    def extra_repr(self) -> str:
        return (
            f"state_dim={self.state_dim}, gate_type={self.gate_type!r}, num_heads={self.num_heads}, "
            f"enable_communication={self.enable_communication}"
        )

    def forward(self, prev_state: Tensor, new_input: Tensor, active: Tensor | None = None) -> Tensor:
        """``prev_state`` and ``new_input`` (B, D) or (B, S, D) -> the updated states, same shape.

        ``active`` (S,) bool, optional: only these states are updated and take part in the
        communication; the others come back unchanged (slots pruned by a :class:`StateManager`)."""
        if prev_state.shape != new_input.shape or prev_state.shape[-1] != self.state_dim:
            raise ValueError(
                f"StatePropagator: prev_state and new_input must both be (B, {self.state_dim}) or "
                f"(B, S, {self.state_dim}), got {tuple(prev_state.shape)} and {tuple(new_input.shape)}"
            )
        updated, gate_values = self.gated_update(prev_state, new_input)
        if self.enable_communication and prev_state.dim() == 3:
            updated = updated + self.communicate(updated, active)
        if active is not None:
            updated = torch.where(active[:, None], updated, prev_state)
        debug_report(self, states=updated, gates=gate_values)
        return updated

    def gated_update(self, state: Tensor, update: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The gated update alone: the new states and the gate values by name (``update`` for GRU's
        z, ``forget`` and ``input`` for the LSTM form)."""
        both = torch.cat([update, state], dim=-1)
        first, second = torch.sigmoid(self.gates(both)).chunk(2, dim=-1)
        if self.gate_type == "gru":
            reset, keep = first, second
            candidate = torch.tanh(self.candidate_input(update) + self.candidate_state(reset * state))
            return keep * state + (1 - keep) * candidate, {"update": keep}
        forget, take = first, second
        return forget * state + take * torch.tanh(self.candidate(both)), {"forget": forget, "input": take}

    def communicate(self, states: Tensor, active: Tensor | None = None) -> Tensor:
        """What each of the states (B, S, D) receives from the others by self-attention, (B, S, D);
        inactive states are neither read nor changed."""
        normed = self.communication_norm(states)
        ignored = None if active is None else (~active).expand(states.shape[0], -1)
        message, _ = self.communication(normed, normed, normed, key_padding_mask=ignored, need_weights=False)
        return message
