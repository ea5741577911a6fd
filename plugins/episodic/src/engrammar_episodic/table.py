"""The episode table every head works on: N slots of (key, value) per sample, and which are in use.

Shapes (B samples, N slots, key width K, value width V)::

    keys (B, N, K)    values (B, N, V)    occupied (B, N) bool: written since the last reset

The table is part of the memory's state, so it is never changed in place: a write returns a new
table whose other slots are the same tensors' values. Writes touch one slot per sample and reads
of a sparse head gather a few rows, through indexing operations whose backward keeps only their
indices, so a step that writes one slot and reads k keeps O(k) numbers for backpropagation, not a
copy of the table.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Table", "mask_free_slots", "read_rows", "write_slot"]


class Table(NamedTuple):
    """The slots of every sample: keys (B, N, K), values (B, N, V), occupied (B, N) bool."""

    keys: Tensor
    values: Tensor
    occupied: Tensor

    @property
    def num_slots(self) -> int:
        return int(self.keys.shape[1])


def mask_free_slots(scores: Tensor, occupied: Tensor) -> Tensor:
    """Scores (B, H, N) with the slots nobody wrote (occupied (B, N) false) at the dtype's lowest
    value: a softmax gives them weight 0, or spreads evenly over the slots (all holding zero
    values, so the read is 0) when no slot is written yet; finite either way, and so are gradients."""
    return scores.masked_fill(~occupied.unsqueeze(-2), torch.finfo(scores.dtype).min)


def _flat_index(table: Table, slots: Tensor) -> Tensor:
    """Row numbers in the (B·N, ·) flattened table of ``slots`` (B, S)."""
    batch = torch.arange(slots.shape[0], device=slots.device).unsqueeze(-1)
    return (batch * table.num_slots + slots).reshape(-1)


def read_rows(table: Table, slots: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The keys (B, S, K), values (B, S, V) and occupancy (B, S) of ``slots`` (B, S) int64.

    ``index_select`` on the flattened table: its backward keeps the indices, not the table."""
    batch, count = slots.shape
    rows = _flat_index(table, slots)
    keys = table.keys.reshape(-1, table.keys.shape[-1]).index_select(0, rows).view(batch, count, -1)
    values = table.values.reshape(-1, table.values.shape[-1]).index_select(0, rows).view(batch, count, -1)
    return keys, values, table.occupied.reshape(-1).index_select(0, rows).view(batch, count)


def write_slot(table: Table, slot: Tensor, key: Tensor, value: Tensor, amount: Tensor | None = None) -> Table:
    """Write ``key`` (B, K) and ``value`` (B, V) into ``slot`` (B,) int64 of each sample.

    ``amount`` (B,) in [0, 1] blends the new episode with what the slot held,
    ``row + amount · (new − row)``; a sample with amount 0 keeps its slot (and its occupancy).
    Without ``amount`` the slot is overwritten. Returns a new table; ``table`` is unchanged."""
    batch = torch.arange(slot.shape[0], device=slot.device)
    index = (batch, slot)
    if amount is None:
        written = torch.ones_like(slot, dtype=torch.bool)
    else:
        old_keys, old_values, _ = read_rows(table, slot.unsqueeze(-1))
        blend = amount.unsqueeze(-1)
        key = old_keys[:, 0] + blend * (key - old_keys[:, 0])
        value = old_values[:, 0] + blend * (value - old_values[:, 0])
        written = table.occupied[index] | (amount > 0)
    return Table(
        keys=torch.index_put(table.keys, index, key),
        values=torch.index_put(table.values, index, value),
        occupied=torch.index_put(table.occupied, index, written),
    )
