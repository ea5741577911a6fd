"""``ttt_linear`` and ``ttt_mlp``: TTT layers (Sun et al., "Learning to (Learn at Test Time): RNNs
with Expressive Hidden States", 2024), whose hidden state is the weights of a model trained on the
sequence by its own inner loss.

Per head h, with x_t the input (optionally through a short causal convolution):

    k_t, v_t, q_t = θ_K x_t, θ_V x_t, θ_Q x_t                      training, label and test views
    f(x; W) = x + LN(g(x; W))                                         g: linear (ttt_linear) or a
                                                                      2-layer GELU MLP (ttt_mlp)
    ℓ(W; x_t) = ½ ‖f(k_t; W) − v_t‖²
    η_t = base_lr · sigmoid(w_η · x_t + b_η) / head_dim              learning rate per token
    W_t = W₀ − e_i Σ_{j ≤ t} η_j ∇ℓ(W₀; x_j)                           mini-batch gradient descent:
                                                                      W₀ the mini-batch's start
    z_t = f(q_t; W_t)

The mini-batch holds b = ``chunk_size`` tokens; i is t's position in it and e_i = max(1/i + c_i, 0)
with a learned offset c (the reference implementation's token index), so W_t follows the running
mean of the mini-batch's gradients. The initial weights W₀ of every sequence and the inner layer
norm's γ, β are parameters trained by the outer loss. The heads' outputs go through a layer norm,
an optional gate GELU(W_g x_t), and one projection to ``hidden_size``. Whole sequences run the
dual form (:func:`.ops.chunk_ttt`), ``step`` the recurrence (:func:`.ops.ttt_step`); both are tested
against the ``torch.func`` oracle :func:`.ops.naive_ttt`. The inner loop runs in ``eval()`` and
under ``torch.no_grad()`` too; ``learn_at_test_time: false`` freezes it outside training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from engrammar.component import Component
from engrammar.recorder import is_recording
from engrammar.spec import ComponentSpec, between, field, ge, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .ops import InnerModel, chunk_ttt, initial_ttt_state, ttt_step
from .ops.inner_model import combine, select
from .reporting import report_memory, weight_norm
from .short_conv import ShortConvolution

__all__ = ["TTTMLP", "TTTLinear", "TTTLinearSpec", "TTTMLPSpec"]

_MEMORY_KEYS = ("weights", "gradient_sum", "position")


@spec
class TTTLinearSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the output")
    num_heads: int = field(default=4, validator=ge(1), doc="number of heads, each with its own inner model")
    head_dim: int = field(default=16, validator=ge(1), doc="width of each head's views and inner model")
    chunk_size: int = field(
        default=16, validator=between(1, 1024), doc="mini-batch size b: tokens whose gradients share W₀ (1: online)"
    )
    base_lr: float = field(default=1.0, validator=gt(0.0), doc="η_base: the inner learning rate's upper bound")
    use_short_conv: bool = field(default=True, doc="short causal convolution on the views (the Mamba-backbone variant)")
    conv_size: int = field(default=4, validator=between(2, 16), doc="taps of the short convolution")
    use_output_gate: bool = field(default=True, doc="gate the output with GELU(W_g x)")
    learn_at_test_time: bool = field(
        default=True, doc="the inner loop keeps running in eval mode; false freezes it outside training"
    )


@spec
class TTTMLPSpec(TTTLinearSpec):
    base_lr: float = field(default=0.1, validator=gt(0.0), doc="η_base: the inner learning rate's upper bound")
    mlp_expansion: int = field(
        default=4, validator=ge(1), doc="hidden width of the inner MLP, in multiples of head_dim"
    )


class TTTLinear(Component):
    """TTT layer with a linear inner model: its weights learn the sequence in mini-batches.

    The inner model has a residual and a layer norm; whole sequences take the dual form."""

    spec_cls = TTTLinearSpec
    spec: TTTLinearSpec

    def __init__(self, spec: TTTLinearSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        heads, width = s.num_heads, s.head_dim
        self.model = InnerModel(self._widths(), bias=True, residual_norm=True, loss_scale=0.5)
        self.qkv_width = 3 * heads * width
        self.qkv_proj = nn.Linear(self.in_features, self.qkv_width, bias=False)
        self.conv = ShortConvolution(self.qkv_width, s.conv_size) if s.use_short_conv else None
        self.lr_proj = nn.Linear(self.in_features, heads)
        self.token_offset = nn.Parameter(torch.zeros(s.chunk_size))  # c_i in e_i = max(1/i + c_i, 0)
        # W ~ N(0, 1/d_in): the inner layer norm then sees outputs of unit scale (with tiny weights
        # it would blow up their gradients and the inner loop would learn little but the last bias)
        self.initial_weights = nn.ParameterDict(
            {
                name: nn.Parameter(
                    torch.zeros(heads, *shape) if len(shape) == 1 else torch.randn(heads, *shape) / shape[0] ** 0.5
                )
                for name, shape in self.model.shapes().items()
            }
        )
        self.inner_norm_weight = nn.Parameter(torch.ones(heads, width))
        self.inner_norm_bias = nn.Parameter(torch.zeros(heads, width))
        self.output_norm = nn.LayerNorm(heads * width)
        self.gate_out = nn.Linear(self.in_features, heads * width) if s.use_output_gate else None
        self.out_proj = nn.Linear(heads * width, s.hidden_size, bias=False)

    def _widths(self) -> tuple[int, ...]:
        return (self.spec.head_dim, self.spec.head_dim)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, Any]:
        s = self.spec
        weights = {
            name: StateEntry((s.num_heads, *shape), doc=f"inner weight {name} at the start of the mini-batch")
            for name, shape in self.model.shapes().items()
        }
        entries: dict[str, Any] = {"weights": weights}
        if s.chunk_size > 1:
            entries["gradient_sum"] = {
                name: StateEntry(entry.shape, doc=f"Σ η_j ∇ℓ_j of {name} over the mini-batch so far")
                for name, entry in weights.items()
            }
            entries["position"] = StateEntry((), dtype="int64", doc="tokens of the current mini-batch seen so far")
        if self.conv is not None:
            entries["conv"] = StateEntry((s.conv_size - 1, self.qkv_width), doc="last inputs of the short convolution")
        return entries

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        device, dtype = self._placement(device, dtype)
        initial = {name: p.to(device=device, dtype=dtype) for name, p in self.initial_weights.items()}
        state = initial_ttt_state(initial, batch_size, chunk_size=self.spec.chunk_size)
        state = {
            key: {n: t.contiguous() for n, t in value.items()} if isinstance(value, dict) else value
            for key, value in state.items()
        }
        if self.conv is not None:
            state["conv"] = torch.zeros(batch_size, self.spec.conv_size - 1, self.qkv_width, device=device, dtype=dtype)
        return state

    # ---- the paths ---------------------------------------------------------------------------

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        new_state: State = {}
        qkv = self.qkv_proj(x)
        if self.conv is not None:
            qkv, new_state["conv"] = self.conv(qkv, state["conv"], resets)
        q, k, v = self._views(qkv)
        memory = {key: state[key] for key in _MEMORY_KEYS if key in state}
        if self._frozen:
            reads, memory = self._frozen_read(q, memory, resets, x.shape[0])
        else:
            lr = self._learning_rate(x)
            diagnostics: dict[str, Tensor] | None = {} if is_recording(self) else None
            reads, memory = chunk_ttt(
                q,
                k,
                v,
                lr,
                model=self.model,
                initial_weights=dict(self.initial_weights),
                token_scale=self._token_scale(),
                norm=self._inner_norm(),
                state=memory,
                resets=resets,
                chunk_size=self.spec.chunk_size,
                diagnostics=diagnostics,
            )
            if diagnostics is not None:
                values = {"inner_loss": diagnostics["inner_loss"], "lr": lr}
                report_memory(self, values, diagnostics["anchor_norm"], sequence=True)
        new_state.update(memory)
        return self._output(x, reads), new_state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        new_state: State = {}
        qkv = self.qkv_proj(x_t)
        if self.conv is not None:
            qkv, new_state["conv"] = self.conv.step(qkv, state["conv"])
        q, k, v = (t[:, 0] for t in self._views(qkv[:, None]))
        memory = {key: state[key] for key in _MEMORY_KEYS if key in state}
        if self._frozen:
            read = self._read(self._current_weights(memory), q[:, None]).squeeze(1)
        else:
            lr = self._learning_rate(x_t[:, None])[:, 0]
            read, memory, inner_loss = ttt_step(
                q,
                k,
                v,
                lr,
                memory,
                model=self.model,
                token_scale=self._token_scale(),
                norm=self._inner_norm(),
                chunk_size=self.spec.chunk_size,
            )
            if is_recording(self):
                report_memory(self, {"inner_loss": inner_loss, "lr": lr}, weight_norm(state["weights"]), sequence=False)
        new_state.update(memory)
        return self._output(x_t[:, None], read[:, None])[:, 0], new_state

    def plot_trace(
        self, trace: dict[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "ttt"
    ) -> list[Path]:
        """The recorded trace as a figure: inner loss, η and the norm of W₀ over time (see :mod:`.plots`)."""
        from .plots import plot_trace

        return plot_trace(trace, out_dir, sample=sample, prefix=prefix)

    # ---- pieces ------------------------------------------------------------------------------

    @property
    def _frozen(self) -> bool:
        return not self.spec.learn_at_test_time and not self.training

    def _token_scale(self) -> Tensor:
        positions = torch.arange(1, self.spec.chunk_size + 1, device=self.token_offset.device)
        return (1.0 / positions + self.token_offset).clamp_min(0.0)

    def _inner_norm(self) -> tuple[Tensor, Tensor]:
        return self.inner_norm_weight, self.inner_norm_bias

    def _current_weights(self, memory: State) -> dict[str, Tensor]:
        """The weights the next read would use with nothing new written: W₀ − e_p Σ."""
        if "gradient_sum" not in memory:
            return memory["weights"]
        position = memory["position"]
        scale = self._token_scale().to(memory["weights"]["w1"].dtype)[(position - 1).clamp_min(0)]
        scale = torch.where(position > 0, scale, torch.zeros_like(scale))[:, None]
        return combine([(1.0, memory["weights"]), (-scale, memory["gradient_sum"])])

    def _read(self, weights: dict[str, Tensor], q: Tensor) -> Tensor:
        """q (B, T, H, d) through per-sample weights -> (B, T, H, d)."""
        gamma, beta = self._inner_norm()
        return self.model.forward(weights, q.transpose(1, 2), (gamma[:, None], beta[:, None])).transpose(1, 2)

    def _frozen_read(self, q: Tensor, memory: State, resets: Tensor | None, batch: int) -> tuple[Tensor, State]:
        """Reads only: the state's current weights, or the initial ones from a sample's first reset on."""
        reads = self._read(self._current_weights(memory), q)
        if resets is None or not bool(resets.any()):
            return reads, memory
        initial = self.init_state(batch, device=q.device, dtype=q.dtype)
        fresh = self._read(initial["weights"], q)
        after_reset = (resets.cumsum(1) > 0)[:, :, None, None]
        restarted = resets.any(1)
        memory = {
            key: select(restarted, initial[key], value)
            if isinstance(value, dict)
            else torch.where(restarted, initial[key], value)
            for key, value in memory.items()
        }
        return torch.where(after_reset, fresh, reads), memory

    def _views(self, qkv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, 3 H d) -> q, k, v (B, T, H, d)."""
        batch, length = qkv.shape[:2]
        q, k, v = qkv.reshape(batch, length, 3, self.spec.num_heads, self.spec.head_dim).unbind(2)
        return q, k, v

    def _learning_rate(self, x: Tensor) -> Tensor:
        """x (B, T, in) -> η (B, T, H)."""
        return self.spec.base_lr * torch.sigmoid(self.lr_proj(x)) / self.spec.head_dim

    def _output(self, x: Tensor, reads: Tensor) -> Tensor:
        """x (B, T, in), reads (B, T, H, d) -> (B, T, hidden_size)."""
        out = self.output_norm(reads.flatten(-2))
        if self.gate_out is not None:
            out = out * F.gelu(self.gate_out(x))
        return self.out_proj(out)


class TTTMLP(TTTLinear):
    """TTT layer with a two-layer GELU MLP inner model: its weights learn the sequence in mini-batches.

    The inner model has a residual and a layer norm; whole sequences take the dual form."""

    spec_cls = TTTMLPSpec
    spec: TTTMLPSpec

    def _widths(self) -> tuple[int, ...]:
        return (self.spec.head_dim, self.spec.mlp_expansion * self.spec.head_dim, self.spec.head_dim)
