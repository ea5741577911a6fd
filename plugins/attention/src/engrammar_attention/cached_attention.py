"""The part ``kv_attention`` and ``sliding_window`` share: projections, rotary positions, and the
state (a key/value cache and a position per sample).

Per head h (K = ``head_dim``), for input x_t:

    q_t, k_t, v_t = W_q x_t, W_k x_t, W_v x_t           rotated by their position (rotary)
    o_t = softmax(q_t · [P_k; k_visible] / √K) [P_v; v_visible]
    y_t = W_o [o_t of every head]

where P_k, P_v are the optional persistent slots and "visible" is the tokens of the sample's
current segment (since its last reset) within the span the subclass sets. The cache holds rotated
keys and values, oldest slot first; a sample's newest ``min(position, S)`` slots are its tokens
since its last reset, and older slots are zero. Whole sequences, chunks and steps all run
:meth:`CachedAttention._run`: the cache and the new tokens are attended to together, so a call on
the whole sequence equals the same tokens in pieces with the state carried.
"""

from __future__ import annotations

from typing import Any

import torch
from engrammar.component import Component
from engrammar.nn import rotary_angles, rotate
from engrammar.spec import ComponentSpec, field, ge, gt, spec
from engrammar.state import State
from torch import Tensor, nn

from .ops import full_attention, segments
from .persistent import PersistentSlots

__all__ = ["AttentionSpec", "CachedAttention"]


@spec
class AttentionSpec(ComponentSpec):
    hidden_size: int = field(default=64, validator=ge(1), doc="width of the output")
    num_heads: int = field(default=4, validator=ge(1), doc="attention heads")
    head_dim: int = field(default=16, validator=ge(1), doc="query, key and value width per head")
    rotary: bool = field(default=True, doc="rotary position embeddings on queries and keys (relative positions)")
    rope_base: float = field(default=10000.0, validator=gt(1.0), doc="base of the rotary frequencies")
    persistent_slots: int = field(
        default=0, validator=ge(0), doc="learned key/value slots every query also sees (Titans' persistent memory)"
    )

    def __attrs_post_init__(self) -> None:
        if self.rotary and self.head_dim % 2:
            raise ValueError(f"head_dim ({self.head_dim}) must be even with rotary: true (rotary rotates pairs)")


class CachedAttention(Component):
    """Causal multi-head softmax attention whose state is a key/value cache (base class)."""

    spec: AttentionSpec

    def __init__(self, spec: AttentionSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        self.num_heads, self.head_dim = s.num_heads, s.head_dim
        width = s.num_heads * s.head_dim
        self.qkv_proj = nn.Linear(self.in_features, 3 * width, bias=False)
        self.out_proj = nn.Linear(width, s.hidden_size, bias=False)
        self.persistent = (
            PersistentSlots(s.num_heads, s.persistent_slots, s.head_dim, s.head_dim) if s.persistent_slots else None
        )

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    # ---- what a subclass decides ------------------------------------------------------------

    @property
    def span(self) -> int | None:
        """Tokens a query sees at most, itself included (None: every token of its segment)."""
        raise NotImplementedError

    def kept_slots(self, total: int) -> int:
        """Cache slots kept after a call that ends with ``total`` slots (cache + new tokens)."""
        raise NotImplementedError

    def _attend(self, q: Tensor, keys: Tensor, values: Tensor, first_visible: Tensor) -> Tensor:
        """The whole-sequence attention op: (B, H, T, K) queries -> (B, H, T, K) outputs."""
        return full_attention(q, keys, values, first_visible, self.span, **self._persistent_kwargs())

    # ---- the three entry points share one implementation -------------------------------------

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = self._run(x_t[:, None], state, None)
        return y[:, 0], state

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        batch, length = x.shape[:2]
        cached_keys, cached_values, position = state["keys"], state["values"], state["position"]
        cache_length = cached_keys.shape[2]
        first_visible, positions = segments(position, cache_length, length, resets)
        q, k, v = self.qkv_proj(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.spec.rotary:
            cos, sin = rotary_angles(positions, self.head_dim, self.spec.rope_base, q.dtype)
            cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, K / 2): the same for every head
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        keys = torch.cat([cached_keys.to(k.dtype), k], dim=2)  # (B, H, S + T, K)
        values = torch.cat([cached_values.to(v.dtype), v], dim=2)
        o = self._attend(q, keys, values, first_visible)
        y = self.out_proj(o.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))

        total = cache_length + length
        kept = self.kept_slots(total)
        # slots from before the sample's last reset are zeroed: a reset state equals a fresh one
        valid = torch.arange(total - kept, total, device=x.device) >= first_visible[:, -1:]  # (B, kept)
        valid = valid[:, None, :, None]
        zero = keys.new_zeros(())
        new_state = {
            "keys": torch.where(valid, keys[:, :, total - kept :], zero).to(cached_keys.dtype),
            "values": torch.where(valid, values[:, :, total - kept :], zero).to(cached_values.dtype),
            "position": positions[:, -1] + 1,
        }
        return y, new_state

    def _persistent_kwargs(self) -> dict[str, Tensor]:
        if self.persistent is None:
            return {}
        return {"persistent_keys": self.persistent.keys, "persistent_values": self.persistent.values}
