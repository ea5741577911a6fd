"""Attention memories for engrammar.

- ``kv_attention`` (alias ``attention_memory``): causal attention over everything seen; state = the
  key/value cache, growing one slot per token (optionally capped by ``max_length``).
- ``sliding_window`` (alias ``short_term``): attention over the last ``window`` tokens; state = a
  buffer of ``window - 1`` slots, constant in length; blocked whole-sequence path.
- ``persistent_memory``: learned key/value slots read by attention; no per-sample state.
- :mod:`.ops`: the attention kernels on their own (naive oracle, full masked, blocked sliding window).

Build them by name (``engrammar.build("sliding_window", in_features=8, window=32)``).
"""

from .kv_attention import KVAttention, KVAttentionSpec
from .persistent_memory import PersistentMemory, PersistentMemorySpec
from .sliding_window import SlidingWindow, SlidingWindowSpec

__all__ = [
    "KVAttention",
    "KVAttentionSpec",
    "PersistentMemory",
    "PersistentMemorySpec",
    "SlidingWindow",
    "SlidingWindowSpec",
]
