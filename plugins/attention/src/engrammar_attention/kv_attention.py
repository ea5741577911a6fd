"""``kv_attention`` (alias ``attention_memory``): causal multi-head softmax attention over every
token seen since the last reset; state = the key/value cache.

Read :mod:`.cached_attention` for the equations. The cache grows by one slot per token; with
``max_length`` it keeps the newest ``max_length`` tokens (oldest dropped), and each query then sees
those and itself — the same tokens ``sliding_window`` with ``window = max_length + 1`` sees, by
full masked attention instead of blocks. Whole sequences run one fused masked attention over cache
+ tokens (``torch.nn.functional.scaled_dot_product_attention``); ``step`` is one decode step.
"""

from __future__ import annotations

import attrs
from engrammar.spec import field, ge, spec
from engrammar.state import StateEntry

from .cached_attention import AttentionSpec, CachedAttention

__all__ = ["KVAttention", "KVAttentionSpec"]


@spec
class KVAttentionSpec(AttentionSpec):
    max_length: int | None = field(
        default=None, validator=ge(1), doc="keep at most this many tokens in the cache, oldest dropped; None: all"
    )


class KVAttention(CachedAttention):
    """Causal multi-head attention over everything seen; state = the key/value cache (optionally capped)."""

    spec_cls = KVAttentionSpec
    spec: KVAttentionSpec

    @property
    def span(self) -> int | None:
        return None if self.spec.max_length is None else self.spec.max_length + 1

    def kept_slots(self, total: int) -> int:
        return total if self.spec.max_length is None else min(total, self.spec.max_length)

    def state_spec(self) -> dict[str, StateEntry]:
        # "cache": a run-time dimension, 0 at first, one slot per token seen (at most max_length);
        # a sample's newest min(position, length) slots are its own, older ones padding
        cache = StateEntry((self.num_heads, "cache", self.head_dim), max_length=self.spec.max_length, count="position")
        return {
            "keys": attrs.evolve(cache, doc="rotated keys, oldest slot first"),
            "values": attrs.evolve(cache, doc="values, oldest slot first"),
            "position": StateEntry((), dtype="int64", doc="tokens seen since the last reset"),
        }
