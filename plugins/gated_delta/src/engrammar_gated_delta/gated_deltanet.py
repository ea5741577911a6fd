"""``gated_deltanet``: the matrix-state gated delta rule (Yang, Kautz, Hatamizadeh, ICLR 2025).

Per head h, with L2-normalised query and key (width K) and a value (width V):

    S_t = α_t (I - β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,     o_t = S_tᵀ q_t / √K
    β_t = sigmoid(w_β · x_t),   α_t = exp(g_t),   g_t = -exp(A_log) · softplus(w_α · x_t + dt_bias) <= 0

q, k, v pass through an optional short causal convolution and SiLU first; each head's output is
RMS-normalised and, optionally, gated by SiLU(W_gate x_t); one projection maps the heads to
``hidden_size``. Whole sequences run in the chunked (WY / UT) form by default, ``mode="recurrent"``
runs the step loop, and ``step`` is the streaming update; :func:`.ops.naive_gated_delta_rule` is
the oracle all three are tested against.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from engrammar.component import Component
from engrammar.spec import ComponentSpec, between, field, ge, one_of, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .ops import chunk_gated_delta_rule, gated_delta_step, recurrent_gated_delta_rule
from .short_conv import ShortConvolution

__all__ = ["GatedDeltaNet", "GatedDeltaNetSpec"]


@spec
class GatedDeltaNetSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the output")
    num_heads: int = field(default=4, validator=ge(1), doc="number of heads, each with its own state")
    head_dim: int = field(default=16, validator=ge(1), doc="query / key width K per head")
    value_dim: int | None = field(default=None, validator=ge(1), doc="value width V per head (default: head_dim)")
    use_short_conv: bool = field(default=True, doc="short causal convolution on q, k, v")
    conv_size: int = field(default=4, validator=between(2, 16), doc="taps of the short convolution")
    use_output_gate: bool = field(default=True, doc="gate each head's output with SiLU(W_gate x)")
    mode: str = field(default="chunk", validator=one_of("chunk", "recurrent"), doc="whole-sequence path")
    chunk_size: int = field(default=64, validator=between(1, 1024), doc="steps per chunk (mode chunk)")
    norm_eps: float = field(default=1e-6, validator=between(0.0, 1.0), doc="epsilon of the output RMS norm")


class GatedDeltaNet(Component):
    """Multi-head gated delta rule memory (matrix state per head; chunked WY form for sequences)."""

    spec_cls = GatedDeltaNetSpec
    spec: GatedDeltaNetSpec

    def __init__(self, spec: GatedDeltaNetSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        self.num_heads, self.key_dim = s.num_heads, s.head_dim
        self.value_dim = s.value_dim or s.head_dim
        heads = self.num_heads
        self.qkv_width = heads * (2 * self.key_dim + self.value_dim)
        self.qkv_proj = nn.Linear(self.in_features, self.qkv_width, bias=False)
        self.beta_proj = nn.Linear(self.in_features, heads, bias=False)
        self.decay_proj = nn.Linear(self.in_features, heads, bias=False)
        # Mamba-style decay: A in [1, 16], initial step sizes log-uniform in [1e-3, 1e-1]
        self.A_log = nn.Parameter(torch.empty(heads).uniform_(1, 16).log())
        dt = torch.exp(torch.empty(heads).uniform_(math.log(1e-3), math.log(1e-1)))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)
        self.conv = ShortConvolution(self.qkv_width, s.conv_size) if s.use_short_conv else None
        self.gate_proj = nn.Linear(self.in_features, heads * self.value_dim, bias=False) if s.use_output_gate else None
        self.norm_weight = nn.Parameter(torch.ones(self.value_dim))
        self.out_proj = nn.Linear(heads * self.value_dim, s.hidden_size, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        entries = {"memory": StateEntry((self.num_heads, self.key_dim, self.value_dim), doc="per-head state S (K, V)")}
        if self.conv is not None:
            entries["conv"] = StateEntry(
                (self.spec.conv_size - 1, self.qkv_width), doc="last inputs of the short convolution"
            )
        return entries

    # ---- the three paths -------------------------------------------------------------------

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        qkv = self.qkv_proj(x_t)
        new_state: State = {}
        if self.conv is not None:
            qkv, new_state["conv"] = self.conv.step(qkv, state["conv"])
        q, k, v, g, beta = self._gates(x_t[:, None], qkv[:, None])
        o_t, new_state["memory"] = gated_delta_step(
            q[:, 0], k[:, 0], v[:, 0], g[:, 0], beta[:, 0], state["memory"], self.key_dim**-0.5
        )
        return self._output(x_t[:, None], o_t[:, None])[:, 0], new_state

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        qkv = self.qkv_proj(x)
        new_state: State = {}
        if self.conv is not None:
            qkv, new_state["conv"] = self.conv(qkv, state["conv"], resets)
        q, k, v, g, beta = self._gates(x, qkv)
        if self.spec.mode == "chunk":
            o, memory = chunk_gated_delta_rule(
                q,
                k,
                v,
                g,
                beta,
                initial_state=state["memory"],
                resets=resets,
                chunk_size=self.spec.chunk_size,
            )
        else:
            o, memory = recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=state["memory"], resets=resets)
        new_state["memory"] = memory
        return self._output(x, o), new_state

    # ---- shared pieces ---------------------------------------------------------------------

    def _gates(self, x: Tensor, qkv: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """x (B, T, in), qkv (B, T, H(2K+V)) -> q, k (B, T, H, K), v (B, T, H, V), g, beta (B, T, H)."""
        batch, length = x.shape[:2]
        heads, key_dim = self.num_heads, self.key_dim
        q, k, v = F.silu(qkv).split([heads * key_dim, heads * key_dim, heads * self.value_dim], -1)
        q = F.normalize(q.reshape(batch, length, heads, key_dim), dim=-1)
        k = F.normalize(k.reshape(batch, length, heads, key_dim), dim=-1)
        v = v.reshape(batch, length, heads, self.value_dim)
        beta = torch.sigmoid(self.beta_proj(x))
        g = -self.A_log.exp() * F.softplus(self.decay_proj(x) + self.dt_bias)
        return q, k, v, g, beta

    def _output(self, x: Tensor, o: Tensor) -> Tensor:
        """x (B, T, in), o (B, T, H, V) -> y (B, T, hidden_size)."""
        rms = o.pow(2).mean(-1, keepdim=True).add(self.spec.norm_eps).rsqrt()
        o = o * rms * self.norm_weight
        if self.gate_proj is not None:
            o = o * F.silu(self.gate_proj(x)).reshape(o.shape)
        return self.out_proj(o.flatten(-2))
