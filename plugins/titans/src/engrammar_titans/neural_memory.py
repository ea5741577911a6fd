"""``neural_memory``: Titans' long-term memory (Behrouz, Zhong, Mirrokni, 2025), a memory that
learns while the model runs.

Per head h, with x_t the input:

    q_t, k_t, v_t = SiLU(conv(W_q x_t)), SiLU(conv(W_k x_t)), SiLU(conv(W_v x_t)); q, k L2-normalised
    θ_t = max_lr · sigmoid(w_θ · x_t + b_θ)      learning rate
    η_t = sigmoid(w_η · x_t + b_η)                momentum ("past surprise")
    α_t = sigmoid(w_α · x_t + b_α)                forgetting (weight decay)
    S_t = η_t S_{t−1} − θ_t ∇‖M(k_t) − v_t‖²      gradient taken at the chunk-start weights
    M_t = (1 − α_t) M_{t−1} + S_t
    o_t = M_t(q_t)                                 (or the chunk-start weights: read_before_update)

M is an MLP of ``memory_depth`` layers (1 = a matrix; hidden width memory_expansion · head_dim,
GELU) whose weights are the state; its initial weights are parameters (trained by the outer loss
with everything else). Each head's read is RMS-normalised, optionally gated by SiLU(W_g x_t), and
one projection maps the heads to ``hidden_size``. Whole sequences run the chunked parallel form
(:func:`.ops.chunk_neural_memory`), ``step`` the recurrence (:func:`.ops.neural_memory_step`); both
are tested against the ``torch.func`` oracle :func:`.ops.naive_neural_memory`.

The memory learns in ``eval()`` and under ``torch.no_grad()`` too; ``learn_at_test_time: false``
freezes it outside training (reads only, the state's weights stay as they are).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from engrammar.component import Component
from engrammar.recorder import is_recording
from engrammar.spec import ComponentSpec, between, field, ge, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .ops import InnerModel, chunk_neural_memory, initial_memory_state, neural_memory_step
from .ops.inner_model import select
from .reporting import report_memory, weight_norm
from .short_conv import ShortConvolution

__all__ = ["NeuralMemory", "NeuralMemorySpec"]

_MEMORY_KEYS = ("weights", "momentum", "anchor", "position")


@spec
class NeuralMemorySpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the output")
    num_heads: int = field(default=4, validator=ge(1), doc="number of heads, each with its own memory MLP")
    head_dim: int = field(default=16, validator=ge(1), doc="query / key / value width per head")
    memory_depth: int = field(default=2, validator=ge(1), doc="layers of the memory MLP (1: a matrix memory)")
    memory_expansion: int = field(
        default=4, validator=ge(1), doc="hidden width of the memory MLP, in multiples of head_dim"
    )
    chunk_size: int = field(
        default=16, validator=between(1, 1024), doc="tokens whose gradients are taken at the same weights (1: online)"
    )
    read_before_update: bool = field(
        default=False, doc="read with the weights at the start of each token's chunk instead of after its update"
    )
    use_momentum: bool = field(default=True, doc="momentum η on the surprise (off: S_t = −θ_t ∇ℓ_t)")
    use_weight_decay: bool = field(default=True, doc="data-dependent forgetting α (off: α = 0)")
    max_lr: float = field(
        default=0.1, validator=gt(0.0), doc="upper bound of the inner learning rate θ (on ‖M(k) − v‖², summed)"
    )
    use_short_conv: bool = field(default=True, doc="short causal convolution on q, k, v")
    conv_size: int = field(default=4, validator=between(2, 16), doc="taps of the short convolution")
    use_output_gate: bool = field(default=True, doc="gate each head's read with SiLU(W_g x)")
    learn_at_test_time: bool = field(
        default=True, doc="the memory keeps learning in eval mode; false freezes it outside training"
    )


class NeuralMemory(Component):
    """Titans' long-term memory: MLP fast weights learnt online, with momentum and weight decay.

    The inner loop runs per head on ‖M(k) − v‖²; whole sequences take the chunked parallel form."""

    spec_cls = NeuralMemorySpec
    spec: NeuralMemorySpec

    def __init__(self, spec: NeuralMemorySpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        heads, width = s.num_heads, s.head_dim
        hidden = [width * s.memory_expansion] * (s.memory_depth - 1)
        self.model = InnerModel((width, *hidden, width))
        self.qkv_width = 3 * heads * width
        self.qkv_proj = nn.Linear(self.in_features, self.qkv_width, bias=False)
        self.conv = ShortConvolution(self.qkv_width, s.conv_size) if s.use_short_conv else None
        self.num_gates = 1 + int(s.use_momentum) + int(s.use_weight_decay)
        self.gate_proj = nn.Linear(self.in_features, heads * self.num_gates)
        # start at half the largest rate, strong momentum and little forgetting (θ, η, α ≈ max_lr / 2, 0.73, 0.018)
        with torch.no_grad():
            biases = [0.0] + ([1.0] if s.use_momentum else []) + ([-4.0] if s.use_weight_decay else [])
            self.gate_proj.bias.copy_(torch.tensor(biases).repeat_interleave(heads))
        self.initial_weights = nn.ParameterDict(
            {name: nn.Parameter(_xavier(heads, shape)) for name, shape in self.model.shapes().items()}
        )
        self.norm_weight = nn.Parameter(torch.ones(width))
        self.gate_out = nn.Linear(self.in_features, heads * width, bias=False) if s.use_output_gate else None
        self.out_proj = nn.Linear(heads * width, s.hidden_size, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, Any]:
        s = self.spec
        weights = {
            name: StateEntry((s.num_heads, *shape), doc=f"fast weight {name} per head")
            for name, shape in self.model.shapes().items()
        }
        entries: dict[str, Any] = {"weights": weights}
        if s.use_momentum:
            entries["momentum"] = {
                name: StateEntry(entry.shape, doc=f"momentum of {name}") for name, entry in weights.items()
            }
        if s.chunk_size > 1:
            entries["anchor"] = {
                name: StateEntry(entry.shape, doc=f"{name} at the start of the current chunk")
                for name, entry in weights.items()
            }
            entries["position"] = StateEntry((), dtype="int64", doc="tokens of the current chunk seen so far")
        if self.conv is not None:
            entries["conv"] = StateEntry((s.conv_size - 1, self.qkv_width), doc="last inputs of the short convolution")
        return entries

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        device, dtype = self._placement(device, dtype)
        initial = {name: p.to(device=device, dtype=dtype) for name, p in self.initial_weights.items()}
        state = initial_memory_state(
            initial, batch_size, has_momentum=self.spec.use_momentum, chunk_size=self.spec.chunk_size
        )
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
        q, k, v = self._heads(qkv)
        memory = {key: state[key] for key in _MEMORY_KEYS if key in state}
        if self._frozen:
            reads, memory = self._frozen_read(q, memory, resets, x.shape[0])
        else:
            lr, log_momentum, log_retention = self._gates(x)
            watched = is_recording(self)
            diagnostics: dict[str, Tensor] | None = {} if watched else None
            reads, memory = chunk_neural_memory(
                q,
                k,
                v,
                lr,
                log_momentum,
                log_retention,
                model=self.model,
                initial_weights=dict(self.initial_weights),
                state=memory,
                resets=resets,
                chunk_size=self.spec.chunk_size,
                read_before_update=self.spec.read_before_update,
                diagnostics=diagnostics,
            )
            if diagnostics is not None:
                values = self._gate_values(lr, log_momentum, log_retention)
                report_memory(
                    self, {"inner_loss": diagnostics["inner_loss"], **values}, diagnostics["anchor_norm"], sequence=True
                )
        new_state.update(memory)
        return self._output(x, reads), new_state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        new_state: State = {}
        qkv = self.qkv_proj(x_t)
        if self.conv is not None:
            qkv, new_state["conv"] = self.conv.step(qkv, state["conv"])
        q, k, v = (t[:, 0] for t in self._heads(qkv[:, None]))
        memory = {key: state[key] for key in _MEMORY_KEYS if key in state}
        if self._frozen:
            read = self.model.forward(self._read_weights(memory), q[:, :, None])[:, :, 0]
        else:
            lr, log_momentum, log_retention = (None if g is None else g[:, 0] for g in self._gates(x_t[:, None]))
            assert lr is not None
            read, memory, inner_loss = neural_memory_step(
                q,
                k,
                v,
                lr,
                log_momentum,
                log_retention,
                memory,
                model=self.model,
                chunk_size=self.spec.chunk_size,
                read_before_update=self.spec.read_before_update,
            )
            if is_recording(self):
                anchor = state.get("anchor", state["weights"])
                values = self._gate_values(lr, log_momentum, log_retention)
                report_memory(self, {"inner_loss": inner_loss, **values}, weight_norm(anchor), sequence=False)
        new_state.update(memory)
        return self._output(x_t[:, None], read[:, None])[:, 0], new_state

    def plot_trace(
        self, trace: dict[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "neural_memory"
    ) -> list[Path]:
        """The recorded trace as a figure: inner loss, θ / η / α and weight norm over time (see :mod:`.plots`)."""
        from .plots import plot_trace

        return plot_trace(trace, out_dir, sample=sample, prefix=prefix)

    # ---- pieces ------------------------------------------------------------------------------

    @property
    def _frozen(self) -> bool:
        return not self.spec.learn_at_test_time and not self.training

    def _read_weights(self, memory: State) -> dict[str, Tensor]:
        return memory["anchor"] if self.spec.read_before_update and "anchor" in memory else memory["weights"]

    def _frozen_read(self, q: Tensor, memory: State, resets: Tensor | None, batch: int) -> tuple[Tensor, State]:
        """Reads only: the state's weights, or the initial ones from a sample's first reset on."""
        reads = self.model.forward(self._read_weights(memory), q.transpose(1, 2)).transpose(1, 2)
        if resets is None or not bool(resets.any()):
            return reads, memory
        initial = self.init_state(batch, device=q.device, dtype=q.dtype)
        fresh = self.model.forward(initial["weights"], q.transpose(1, 2)).transpose(1, 2)
        after_reset = (resets.cumsum(1) > 0)[:, :, None, None]
        restarted = resets.any(1)
        memory = {
            key: select(restarted, initial[key], value)
            if isinstance(value, dict)
            else torch.where(restarted, initial[key], value)
            for key, value in memory.items()
        }
        return torch.where(after_reset, fresh, reads), memory

    def _heads(self, qkv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, 3 H d) -> q, k, v (B, T, H, d): SiLU, then q and k L2-normalised."""
        batch, length = qkv.shape[:2]
        heads, width = self.spec.num_heads, self.spec.head_dim
        q, k, v = F.silu(qkv).reshape(batch, length, 3, heads, width).unbind(2)
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v

    def _gates(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """x (B, T, in) -> θ (B, T, H), log η and log(1 − α) (B, T, H) or None when switched off."""
        batch, length = x.shape[:2]
        logits = self.gate_proj(x).reshape(batch, length, self.num_gates, self.spec.num_heads).unbind(2)
        lr = self.spec.max_lr * torch.sigmoid(logits[0])
        rest = list(logits[1:])
        log_momentum = F.logsigmoid(rest.pop(0)) if self.spec.use_momentum else None
        log_retention = F.logsigmoid(-rest.pop(0)) if self.spec.use_weight_decay else None
        return lr, log_momentum, log_retention

    @staticmethod
    def _gate_values(lr: Tensor, log_momentum: Tensor | None, log_retention: Tensor | None) -> dict[str, Tensor]:
        values = {"lr": lr}
        if log_momentum is not None:
            values["momentum"] = log_momentum.exp()
        if log_retention is not None:
            values["decay"] = -torch.expm1(log_retention)  # α = 1 − exp(log(1 − α))
        return values

    def _output(self, x: Tensor, reads: Tensor) -> Tensor:
        """x (B, T, in), reads (B, T, H, d) -> (B, T, hidden_size)."""
        reads = reads * reads.pow(2).mean(-1, keepdim=True).add(1e-6).rsqrt() * self.norm_weight
        if self.gate_out is not None:
            reads = reads * F.silu(self.gate_out(x)).reshape(reads.shape)
        return self.out_proj(reads.flatten(-2))


def _xavier(heads: int, shape: tuple[int, ...]) -> Tensor:
    """Per-head Xavier-uniform weights; biases (1-D shapes) start at zero."""
    if len(shape) == 1:
        return torch.zeros(heads, *shape)
    bound = math.sqrt(6.0 / (shape[0] + shape[1]))
    return torch.empty(heads, *shape).uniform_(-bound, bound)
