"""``gated_delta_rnn``: the seed's gated delta unit, a vector-state recurrence run as a parallel scan.

Per step, with hidden state h (width D = ``hidden_size``) and rank r = ``delta_rank``:

    h_t = h_{t-1} + g_t (f(x_t, h_{t-1}) - h_{t-1})                    the delta update
    f(x, h) = U (Vᵀ h + tanh(P x + b_P)) + b_f                          U, V: (D, r); P: (r, in)
    g_t = sigmoid(w_g · x_t + b_g)                                      the "seam" gate, in (0, 1)

The gate is one number per sample and step (the seed's gate activations are (batch, time)),
broadcast over the hidden units. f is affine in h through the rank-r projections U, Vᵀ and g
depends on the input only, so

    h_t = ((1 - g_t) I + U (g_t I_r) Vᵀ) h_{t-1} + g_t (U tanh(P x_t + b_P) + b_f)

is an affine recurrence whose transitions a I + U B Vᵀ share U and V and close under composition
at rank r: :func:`.ops.low_rank_affine_scan` computes all of it at O(log T) depth with O(T D r)
work (``use_parallel_scan=True``); the plain loop runs one step at a time
(``use_parallel_scan=False``); both mean the same and are tested against each other.

``z2_symmetric=True`` makes the unit exactly odd, model(-x, -h₀) = (-y, -h): the odd path (f) has
no biases and an odd nonlinearity (tanh), and the gate sees only even features,
g_t = sigmoid(w_g · (Q x_t)² + b_g) with Q: (r, in), so it is the same for x and -x.

``gate_context=True`` lets the gate see the previous input too, through the even features
(C x_t) ⊙ (C x_{t-1}) with C: (r, in): a sign flip between neighbouring inputs (a seam) changes
their sign, so the gate can open at a switch of regime. The gate still depends on inputs only, so
the scan stays exact; the previous input joins the state (zeros after a reset).

The output is h_t; with ``trace=True`` it is [h_t, g_t] (width D + 1), so the gate can be plotted.
With a recording open (``engrammar.recording(model, traces=True)``) the unit also reports ``gate``
g_t (B, T) as a trace, whatever ``trace`` says.
"""

from __future__ import annotations

from typing import Any

import torch
from engrammar.component import Component
from engrammar.recorder import is_tracing, report_trace
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .ops.scan import low_rank_affine_scan

__all__ = ["GatedDeltaRNN", "GatedDeltaRNNSpec"]


@spec
class GatedDeltaRNNSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width D of the hidden state (the seed's hidden_dim)")
    delta_rank: int = field(default=8, validator=ge(1), doc="rank r of the projections through which f sees h and x")
    use_parallel_scan: bool = field(default=True, doc="whole sequences by associative scan (else the plain loop)")
    z2_symmetric: bool = field(default=False, doc="exactly odd: model(-x, -h0) = -model(x, h0)")
    trace: bool = field(default=False, doc="append the seam gate g to the output h (as its last column)")
    gate_context: bool = field(default=False, doc="the gate also sees the previous input (to notice seams)")


class GatedDeltaRNN(Component):
    """Gated delta RNN: h += g (f(x, h) - h), low-rank affine f, scalar seam gate g; a parallel scan."""

    spec_cls = GatedDeltaRNNSpec
    spec: GatedDeltaRNNSpec

    def __init__(self, spec: GatedDeltaRNNSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        hidden, rank, odd = self.spec.hidden_size, self.spec.delta_rank, self.spec.z2_symmetric
        self.input_down = nn.Linear(self.in_features, rank, bias=not odd)  # P, b_P
        self.state_down = nn.Linear(hidden, rank, bias=False)  # Vᵀ
        self.delta_up = nn.Linear(rank, hidden, bias=not odd)  # U, b_f
        self.gate_features: nn.Linear | None = None
        self.context_features: nn.Linear | None = None
        self.context_proj: nn.Linear | None = None
        if odd:
            self.gate_features = nn.Linear(self.in_features, rank, bias=False)  # Q
            self.gate_proj = nn.Linear(rank, 1)
        else:
            self.gate_proj = nn.Linear(self.in_features, 1)
        if self.spec.gate_context:
            self.context_features = nn.Linear(self.in_features, rank, bias=False)  # C
            self.context_proj = nn.Linear(rank, 1, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size + (1 if self.spec.trace else 0)

    def state_spec(self) -> dict[str, StateEntry]:
        entries = {"hidden": StateEntry((self.spec.hidden_size,), doc="hidden state h")}
        if self.spec.gate_context:
            entries["previous_input"] = StateEntry((self.in_features,), doc="x_{t-1}, seen by the gate")
        return entries

    # ---- input-only parts, for all steps at once -------------------------------------------

    def gate(self, x: Tensor, previous: Tensor | None = None) -> Tensor:
        """The seam gate g: x (..., in) and, with ``gate_context``, the previous inputs
        (..., in) -> (..., 1), in (0, 1)."""
        if self.gate_features is not None:
            logit = self.gate_proj(self.gate_features(x).square())
        else:
            logit = self.gate_proj(x)
        if self.context_features is not None and self.context_proj is not None:
            if previous is None:
                raise ValueError("gate_context: the gate needs the previous inputs")
            logit = logit + self.context_proj(self.context_features(x) * self.context_features(previous))
        return torch.sigmoid(logit)

    def gate_sequence(self, x: Tensor, state: State | None = None, resets: Tensor | None = None) -> Tensor:
        """The seam gate over a whole sequence, as ``forward`` computes it: x (B, T, in) -> (B, T)."""
        if state is None:
            state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        return self.gate(x, self._previous_inputs(x, state, resets))[..., 0]

    def _previous_inputs(self, x: Tensor, state: State, resets: Tensor | None) -> Tensor | None:
        """x_{t-1} for every step (B, T, in), zeros right after a reset; None without gate_context."""
        if not self.spec.gate_context:
            return None
        previous = torch.cat([state["previous_input"][:, None], x[:, :-1]], dim=1)
        if resets is not None:
            previous = previous * (~resets)[..., None].to(x.dtype)
        return previous

    def _drive(self, x: Tensor) -> Tensor:
        """The input's part of f: U tanh(P x + b_P) + b_f, (..., D)."""
        return self.delta_up(torch.tanh(self.input_down(x)))

    def _output(self, hidden: Tensor, gate: Tensor) -> Tensor:
        return torch.cat([hidden, gate], dim=-1) if self.spec.trace else hidden

    # ---- paths -----------------------------------------------------------------------------

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        previous = state["previous_input"] if self.spec.gate_context else None
        gate, drive = self.gate(x_t, previous), self._drive(x_t)
        hidden = self._update(state["hidden"], gate, drive)
        new_state: State = {"hidden": hidden}
        if self.spec.gate_context:
            new_state["previous_input"] = x_t
        if is_tracing(self):
            report_trace(self, {"gate": gate[..., 0]})
        return self._output(hidden, gate), new_state

    def _update(self, hidden: Tensor, gate: Tensor, drive: Tensor) -> Tensor:
        target = nn.functional.linear(self.state_down(hidden), self.delta_up.weight) + drive  # f(x, h)
        return hidden + gate * (target - hidden)

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        gate = self.gate(x, self._previous_inputs(x, state, resets))  # (B, T, 1)
        drive = self._drive(x)  # (B, T, D)
        if self.spec.use_parallel_scan:
            hidden = self._scan(gate, drive, state["hidden"], resets)
        else:
            hidden = self._loop(gate, drive, state["hidden"], resets)
        new_state: State = {"hidden": hidden[:, -1]}
        if self.spec.gate_context:
            new_state["previous_input"] = x[:, -1]
        if is_tracing(self):
            report_trace(self, {"gate": gate[..., 0]}, sequence=True)
        return self._output(hidden, gate), new_state

    def _loop(self, gate: Tensor, drive: Tensor, hidden: Tensor, resets: Tensor | None) -> Tensor:
        # unbind once: indexing step t inside the loop costs a full-size zero fill per step in
        # the backward pass
        keeps = (~resets).to(hidden.dtype).unbind(1) if resets is not None else None
        states = []
        for t, (gate_t, drive_t) in enumerate(zip(gate.unbind(1), drive.unbind(1))):
            if keeps is not None:
                hidden = hidden * keeps[t][:, None]
            hidden = self._update(hidden, gate_t, drive_t)
            states.append(hidden)
        return torch.stack(states, dim=1)

    def _scan(self, gate: Tensor, drive: Tensor, hidden: Tensor, resets: Tensor | None) -> Tensor:
        rank = self.spec.delta_rank
        scale = 1.0 - gate[..., 0]  # a_t: (B, T)
        core = gate[..., None] * torch.eye(rank, dtype=gate.dtype, device=gate.device)  # g_t I_r
        if resets is not None:  # a reset step ignores h_{t-1}: its transition is zero
            keep = (~resets).to(gate.dtype)
            scale, core = scale * keep, core * keep[..., None, None]
        up, down = self.delta_up.weight, self.state_down.weight.transpose(0, 1)  # U, V: (D, r)
        return low_rank_affine_scan(scale, core, up, down, gate * drive, hidden)
