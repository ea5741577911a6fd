"""The first-party write heads: a ring buffer, least-recently-used slots, and writes of novel inputs only.

Each writer stores the episode (k_t, v_t) = (W_k x_t, W_v x_t) into one slot per sample; they differ
in which slot, and whether:

- ``append_writer``: the next slot of a ring (state: the position); the oldest episode goes first.
- ``usage_writer``: the least recently used slot (state: each slot's age, the steps since it was
  last read or written; a slot read at this step counts as used). Free slots are taken first, in
  order; ties go to the lowest slot.
- ``surprise_writer``: writes only when the input is novel, its key's highest cosine similarity to
  the written keys below a threshold θ (always novel before the first write), into the next slot of
  its own ring. θ is fixed, or learned with ``learn_threshold``: a novel input is then written with
  strength g = sigmoid((θ − similarity) / temperature) ∈ (0.5, 1], through which θ and the key map
  get gradients, and a familiar one is not written at all.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from engrammar.nn import cosine_similarity
from engrammar.spec import between, field, gt, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .heads import HeadSpec, WriteHead
from .table import Table, mask_free_slots, read_rows, write_slot

__all__ = [
    "AppendWriter",
    "AppendWriterSpec",
    "SurpriseWriter",
    "SurpriseWriterSpec",
    "UsageWriter",
    "UsageWriterSpec",
]


@spec
class AppendWriterSpec(HeadSpec):
    pass


@spec
class UsageWriterSpec(HeadSpec):
    pass


@spec
class SurpriseWriterSpec(HeadSpec):
    threshold: float = field(
        default=0.5, validator=between(-1.0, 1.0), doc="θ: write when the highest cosine to a written key is below it"
    )
    learn_threshold: bool = field(default=False, doc="learn θ (from the value above) through a soft write strength")
    temperature: float = field(
        default=0.1, validator=gt(0.0), doc="with learn_threshold: the width of the sigmoid of the write strength"
    )


class _EpisodeWriter(WriteHead):
    """Shared parts: the key map W_k and value map W_v of the episode written."""

    def __init__(self, spec: HeadSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.key = nn.Linear(self.in_features, self.spec.key_size)
        self.value = nn.Linear(self.in_features, self.spec.value_size)


class AppendWriter(_EpisodeWriter):
    """Ring-buffer write head: every step writes the next slot, overwriting the oldest episode."""

    spec_cls: ClassVar[type[HeadSpec]] = AppendWriterSpec

    def state_spec(self) -> dict[str, Any]:
        return {"position": StateEntry((), dtype="int64", doc="the slot written next")}

    def write(self, x_t: Tensor, table: Table, state: State, slots: Tensor) -> tuple[Table, State]:
        slot = state["position"]
        table = write_slot(table, slot, self.key(x_t), self.value(x_t))
        return table, {"position": (slot + 1) % table.num_slots}


class UsageWriter(_EpisodeWriter):
    """Least-recently-used write head: writes the free slot, else the one read or written longest ago."""

    spec_cls: ClassVar[type[HeadSpec]] = UsageWriterSpec
    uses_reads: ClassVar[bool] = True

    def state_spec(self) -> dict[str, Any]:
        return {"age": StateEntry((self.spec.num_slots,), dtype="int64", doc="steps since each slot was last used")}

    def write(self, x_t: Tensor, table: Table, state: State, slots: Tensor) -> tuple[Table, State]:
        age = (state["age"] + 1).scatter(1, slots, 0)  # read at this step: used now
        free_first = torch.where(table.occupied, age, torch.iinfo(age.dtype).max)
        slot = free_first.argmax(-1)  # the first of the largest
        table = write_slot(table, slot, self.key(x_t), self.value(x_t))
        return table, {"age": age.scatter(1, slot.unsqueeze(-1), 0)}


class SurpriseWriter(_EpisodeWriter):
    """Surprise write head: stores an input only when its key is unlike every stored key (below θ)."""

    spec_cls: ClassVar[type[HeadSpec]] = SurpriseWriterSpec

    def __init__(self, spec: HeadSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s: SurpriseWriterSpec = self.spec  # type: ignore[assignment]
        self.threshold = nn.Parameter(torch.tensor(s.threshold)) if s.learn_threshold else None

    def state_spec(self) -> dict[str, Any]:
        return {"position": StateEntry((), dtype="int64", doc="the slot written next")}

    def write(self, x_t: Tensor, table: Table, state: State, slots: Tensor) -> tuple[Table, State]:
        key = self.key(x_t)
        similarity = self.similarity(key, table)
        threshold = self.threshold if self.threshold is not None else self.spec.threshold  # type: ignore[attr-defined]
        novel = similarity < threshold
        if self.threshold is None:
            amount = novel.to(key.dtype)
        else:
            strength = torch.sigmoid((threshold - similarity) / self.spec.temperature)  # type: ignore[attr-defined]
            amount = torch.where(novel, strength, torch.zeros_like(strength))
        position = state["position"]
        table = write_slot(table, position, key, self.value(x_t), amount)
        return table, {"position": torch.where(novel, (position + 1) % table.num_slots, position)}

    def similarity(self, key: Tensor, table: Table) -> Tensor:
        """The highest cosine (B,) of ``key`` (B, K) to a written key; -2 (below any θ) when none is.

        The closest slot is found without autograd and its cosine recomputed from its row, so the
        backward pass keeps one row, not the table."""
        with torch.no_grad():
            cosines = mask_free_slots(cosine_similarity(table.keys, key.unsqueeze(-2)), table.occupied)
            closest = cosines.squeeze(-2).argmax(-1, keepdim=True)  # (B, 1)
        closest_key, _, written = read_rows(table, closest)
        cosine = cosine_similarity(closest_key, key.unsqueeze(-2)).reshape(-1)
        return torch.where(written.reshape(-1), cosine, torch.full_like(cosine, -2.0))
