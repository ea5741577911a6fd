"""``sliding_window`` (alias ``short_term``): attention over the last ``window`` tokens; state = a
buffer of the last ``window - 1`` keys and values per sample, constant in sequence length.

Read :mod:`.cached_attention` for the equations. Whole sequences longer than a few tokens run the
blocked form of :mod:`.ops.sliding` — blocks of ``window`` queries against their own block and the
one before, O(T · window) — equal to the naive masked form; ``step`` attends one query to the
buffer and itself.
"""

from __future__ import annotations

from engrammar.spec import field, ge, spec
from engrammar.state import StateEntry
from torch import Tensor

from .cached_attention import AttentionSpec, CachedAttention
from .ops import full_attention, sliding_window_attention

__all__ = ["SlidingWindow", "SlidingWindowSpec"]


@spec
class SlidingWindowSpec(AttentionSpec):
    window: int = field(default=64, validator=ge(1), doc="tokens each query sees, itself included")


class SlidingWindow(CachedAttention):
    """Sliding-window attention (short-term memory); state = the last window - 1 keys and values."""

    spec_cls = SlidingWindowSpec
    spec: SlidingWindowSpec

    @property
    def span(self) -> int:
        return self.spec.window

    def kept_slots(self, total: int) -> int:
        return self.spec.window - 1

    def state_spec(self) -> dict[str, StateEntry]:
        buffer = (self.num_heads, self.spec.window - 1, self.head_dim)
        return {
            "keys": StateEntry(buffer, doc="rotated keys of the last window - 1 tokens, oldest first; zeros before"),
            "values": StateEntry(buffer, doc="values of the last window - 1 tokens, oldest first; zeros before"),
            "position": StateEntry((), dtype="int64", doc="tokens seen since the last reset"),
        }

    def _attend(self, q: Tensor, keys: Tensor, values: Tensor, first_visible: Tensor) -> Tensor:
        if q.shape[2] < self.spec.window:  # shorter than a block (a step, say): the dense mask is smaller
            return full_attention(q, keys, values, first_visible, self.span, **self._persistent_kwargs())
        return sliding_window_attention(q, keys, values, first_visible, self.spec.window, **self._persistent_kwargs())
