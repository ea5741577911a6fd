"""``pulse`` (alias ``nsm``): S explicit state slots per sample, updated one token at a time.

With slots s_1..S (each of width D = ``state_dim``) carried as the state, each time step t:

    r, w = token_router.route(x_t, s)            the token distributes itself over the slots:
                                                 r (S, D) what each slot receives, w (S) summing to 1
    s' = StatePropagator(s, r)                   gated update of every slot (gru or lstm), then
                                                 optionally state-to-state attention (communication)
    y_t = Σ_j w_j s'_j                           the output: the updated slots, read by the routing

The router is engrammar-routers' ``token_router``, built by registry name. Left alone, routing
tends to collapse onto one slot (every token into the same slot: a single gated state); the
load-balancing loss of the Switch Transformer, over the N tokens routed while a recording is open,

    balance_weight · S · Σ_j f_j P_j,    P_j = (1/N) Σ_t w_t,j,  f_j = P_j held constant,

reported as ``load_balance`` (the trainer adds it to the task's loss), pushes tokens towards the
slots that receive less than their share; it equals ``balance_weight`` when the load is even. The initial slots are
the learned, importance-scaled slots of a :class:`StateManager` (so the importance scores learn
from the loss); slots it has pruned start at zero, are never updated and are not read (w is
renormalised over the active slots). The state is the S slots, O(S·D) per sample whatever the
sequence length; a reset puts a sample's slots back to the learned initial ones.

Fields follow the PULSE tutorial: ``num_states``, ``state_dim``, ``num_heads``, ``gate_type``,
``enable_communication``; ``balance_weight`` as engrammar-routers' routers; ``initial_states`` and
``prune_threshold`` are the state manager's (the
``prune_states`` trick prunes and allocates slots during training).
"""

from __future__ import annotations

from typing import Any

import engrammar
import torch
from engrammar import Component, Pooled, StateEntry, is_recording, is_tracing, report_loss, report_trace
from engrammar.spec import ComponentSpec, _RuleBroken, between, field, ge, one_of, spec
from engrammar.state import State
from torch import Tensor

from .propagator import GATE_TYPES, StatePropagator
from .state_manager import StateManager

__all__ = ["Pulse", "PulseSpec"]


@spec
class PulseSpec(ComponentSpec):
    """``in_features`` is the width of a token (the tutorial's ``token_dim``)."""

    num_states: int = field(default=8, validator=ge(1), doc="S, the state slots per sample")
    state_dim: int = field(default=32, validator=ge(1), doc="width of a slot; also the output width")
    num_heads: int = field(default=4, validator=ge(1), doc="attention heads of the routing and communication")
    gate_type: str = field(default="gru", validator=one_of(*GATE_TYPES), doc="gated update: gru or lstm")
    enable_communication: bool = field(default=False, doc="slots exchange information by self-attention each step")
    balance_weight: float = field(default=0.01, validator=ge(0.0), doc="weight of the load-balancing loss (0: none)")
    initial_states: int | None = field(
        default=None, validator=ge(1), doc="slots active at the start (None: all); prune_states may allocate the rest"
    )
    prune_threshold: float = field(
        default=0.1,
        validator=between(0.0, 1.0, inclusive=False),
        doc="importance below which prune_states drops a slot",
    )

    def __attrs_post_init__(self) -> None:
        if self.state_dim % self.num_heads:
            raise _RuleBroken(
                "num_heads", f"must divide state_dim ({self.state_dim}) into equal heads, got {self.num_heads}"
            )
        if self.initial_states is not None and self.initial_states > self.num_states:
            raise _RuleBroken("initial_states", f"must be <= num_states ({self.num_states}), got {self.initial_states}")


class Pulse(Component):
    """S explicit state slots per sample: each token is routed into them, they are updated by a gated
    (GRU/LSTM) step and optionally talk to each other; the output reads them (the PULSE tutorial)."""

    spec_cls = PulseSpec
    spec: PulseSpec

    def __init__(self, spec: PulseSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        self.state_manager = StateManager(
            s.state_dim,
            max_states=s.num_states,
            initial_states=s.initial_states or s.num_states,
            prune_threshold=s.prune_threshold,
        )
        self.router = engrammar.build(
            "token_router",
            in_features=self.in_features,
            state_dim=s.state_dim,
            num_states=s.num_states,
            num_heads=s.num_heads,
        )
        self.propagator = StatePropagator(
            s.state_dim, gate_type=s.gate_type, num_heads=s.num_heads, enable_communication=s.enable_communication
        )

    @property
    def out_features(self) -> int:
        return self.spec.state_dim

    def state_spec(self) -> dict[str, Any]:
        return {"slots": StateEntry((self.spec.num_states, self.spec.state_dim), doc="the state slots")}

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        device, dtype = self._placement(device, dtype)
        manager = self.state_manager
        slots = manager.scaled_states() * manager.active[:, None]  # pruned slots start (and stay) at zero
        return {"slots": slots.to(device=device, dtype=dtype).expand(batch_size, -1, -1)}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        slots = state["slots"]
        active = self.state_manager.active
        routed, weights = self.router.route(x_t[:, None], slots)  # (B, S, D), (B, 1, S)
        updated = self.propagator(slots, routed, active=active)
        read = weights[:, 0] * active
        read = read / read.sum(-1, keepdim=True)
        y_t = torch.einsum("bs,bsd->bd", read, updated)
        if is_tracing(self):
            report_trace(self, {"read_weights": read, "slot_norms": updated.norm(dim=-1)})
        if self.spec.balance_weight > 0 and is_recording(self):
            report_loss(self, "load_balance", Pooled((read.sum(0), float(read.shape[0])), self._balance))
        return y_t, {"slots": updated}

    def _balance(self, weight_sum: Tensor, tokens: float) -> Tensor:
        """``balance_weight · S · Σ_j f_j P_j`` from the routing weights summed over ``tokens`` tokens."""
        share = weight_sum / tokens
        return self.spec.balance_weight * share.numel() * (share.detach() * share).sum()
