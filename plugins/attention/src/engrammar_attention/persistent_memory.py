"""``persistent_memory``: ``num_slots`` learned key/value slots that the input attends to, read-only.

Per head h (K = ``head_dim``):  y_t = W_o [softmax(q_t · P_kᵀ / √K) P_v of every head],
q_t = W_q x_t. The slots are parameters (:class:`.persistent.PersistentSlots`): nothing is
written per sample, so the state is empty and every time step is independent. Train them slowly
(a smaller learning rate on parameters named ``persistent``) for the design's "learned slots
updated in the outer loop". To prepend the same slots to an attention node instead, set
``persistent_slots`` on ``kv_attention`` or ``sliding_window``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from engrammar.component import Component
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import State
from torch import Tensor, nn

from .persistent import PersistentSlots

__all__ = ["PersistentMemory", "PersistentMemorySpec"]


@spec
class PersistentMemorySpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the output")
    num_slots: int = field(
        default=16, validator=ge(2), doc="learned key/value slots per head (one would make every read the same)"
    )
    num_heads: int = field(default=4, validator=ge(1), doc="attention heads, each with its own slots")
    head_dim: int = field(default=16, validator=ge(1), doc="query, key and value width per head")


class PersistentMemory(Component):
    """Learned key/value slots read by attention (no per-sample state; trained in the outer loop)."""

    spec_cls = PersistentMemorySpec
    spec: PersistentMemorySpec

    def __init__(self, spec: PersistentMemorySpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        self.query_proj = nn.Linear(self.in_features, s.num_heads * s.head_dim, bias=False)
        self.persistent = PersistentSlots(s.num_heads, s.num_slots, s.head_dim, s.head_dim)
        self.out_proj = nn.Linear(s.num_heads * s.head_dim, s.hidden_size, bias=False)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._read(x), state

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._read(x), state  # nothing per sample to reset

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self._read(x_t[:, None])[:, 0], state

    def _read(self, x: Tensor) -> Tensor:
        """x (B, T, in) -> y (B, T, hidden_size)."""
        batch, length = x.shape[:2]
        s = self.spec
        q = self.query_proj(x).view(batch, length, s.num_heads, s.head_dim).transpose(1, 2)  # (B, H, T, K)
        keys = self.persistent.keys.expand(batch, *self.persistent.keys.shape)  # (B, H, P, K)
        values = self.persistent.values.expand(batch, *self.persistent.values.shape)
        o = F.scaled_dot_product_attention(q, keys, values)
        return self.out_proj(o.transpose(1, 2).reshape(batch, length, s.num_heads * s.head_dim))
