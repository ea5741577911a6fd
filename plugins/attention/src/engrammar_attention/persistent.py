"""Persistent slots: learned (key, value) pairs per head that every query attends to.

They hold no per-sample state: they are parameters, trained in the outer loop like any weight
(select them by the name ``persistent`` for a slower learning rate). ``persistent_memory`` reads
them alone; ``kv_attention`` and ``sliding_window`` prepend them to their keys and values when
``persistent_slots > 0`` — the persistent memory tokens of Titans' memory-as-context layout.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PersistentSlots"]


class PersistentSlots(nn.Module):
    """``keys`` (H, num_slots, K) and ``values`` (H, num_slots, V), learned."""

    def __init__(self, num_heads: int, num_slots: int, key_dim: int, value_dim: int) -> None:
        super().__init__()
        # unit-variance keys give scores of the same scale as projected inputs' (q · k / sqrt(K))
        self.keys = nn.Parameter(torch.randn(num_heads, num_slots, key_dim))
        self.values = nn.Parameter(torch.randn(num_heads, num_slots, value_dim))
