"""``episodic``: a fixed table of ``num_slots`` (key, value) episodes per sample, written by write
heads and read by content through read heads, each head chosen by registry name.

Every step t, on the table as the earlier steps left it::

    reads_i        = reader_i.read(x_t, table)            every reader, side by side
    table          = writer_j.write(x_t, table, slots)    then every writer, in order
    y_t            = read_out([reads_1, ..., reads_R], x_t)

so y_t recalls episodes stored before t, and the episode of step t is there from step t + 1. The
readers report the slots they read most (``slots``), which a usage policy counts as used. The
read-out is the one every memory with read heads offers (:class:`engrammar.nn.ReadOut`:
``normalization``, ``dropout``, ``pass_through``).

``long_term`` is the same memory with the defaults of a large store: 4096 slots, read by
``sparse_reader`` (top 8), written by ``usage_writer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from engrammar.component import Component
from engrammar.nn import ReadOut
from engrammar.recorder import is_tracing, report_trace
from engrammar.spec import ComponentSpec, _RuleBroken, between, field, ge, spec
from engrammar.state import State, StateEntry
from torch import Tensor, nn

from .heads import Head, ReadHead, WriteHead, build_head
from .table import Table

__all__ = ["Episodic", "EpisodicSpec", "LongTerm", "LongTermSpec"]


def _check_heads(instance: Any, attribute: Any, value: Any) -> None:
    if not value:
        raise _RuleBroken(
            attribute.name, f"must name at least one head, as [{{use: <name>}}] (engrammar list {attribute.name})"
        )
    for index, head in enumerate(value):
        use = head.get("use") if isinstance(head, Mapping) else None
        if not isinstance(use, str) or not use.strip():
            raise _RuleBroken(
                f"{attribute.name}[{index}]",
                f"must name a head from the registry as use: <name> (engrammar list {attribute.name}), got {head!r}",
            )


@spec
class EpisodicSpec(ComponentSpec):
    num_slots: int = field(default=128, validator=ge(1), doc="N, episodes stored per sample")
    key_size: int = field(default=16, validator=ge(1), doc="K, the width of a key (what reads compare)")
    value_size: int = field(default=16, validator=ge(1), doc="V, the width of a value (what reads return)")
    readers: tuple[dict[str, Any], ...] = field(
        factory=lambda: ({"use": "content_reader"},),
        validator=_check_heads,
        doc="read heads from the registry, [{use: <name>, <its fields>}], read side by side",
        hash=False,
    )
    writers: tuple[dict[str, Any], ...] = field(
        factory=lambda: ({"use": "usage_writer"},),
        validator=_check_heads,
        doc="write heads from the registry, [{use: <name>, <its fields>}], applied in order after the reads",
        hash=False,
    )
    normalization: bool = field(default=False, doc="layer-normalise the reads")
    dropout: float = field(default=0.0, validator=between(0.0, 0.99), doc="dropout on the reads (training only)")
    pass_through: bool = field(default=False, doc="append the input to the output")


@spec
class LongTermSpec(EpisodicSpec):
    """The defaults of a large store with sparse reads."""

    num_slots: int = field(default=4096, validator=ge(1), doc="N, episodes stored per sample")
    readers: tuple[dict[str, Any], ...] = field(
        factory=lambda: ({"use": "sparse_reader", "top_k": 8},),
        validator=_check_heads,
        doc="read heads from the registry, [{use: <name>, <its fields>}], read side by side",
        hash=False,
    )


class Episodic(Component):
    """Episodic memory: a table of (key, value) episodes per sample, written and read by heads chosen by name."""

    spec_cls: ClassVar[type[ComponentSpec]] = EpisodicSpec
    spec: EpisodicSpec

    def __init__(self, spec: EpisodicSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        filled = {
            "in_features": self.in_features,
            "key_size": s.key_size,
            "value_size": s.value_size,
            "num_slots": s.num_slots,
        }
        name = type(self).__name__
        self.readers = nn.ModuleList(
            build_head(head, ReadHead, filled, f"{name}.readers[{i}]") for i, head in enumerate(s.readers)
        )
        self.writers = nn.ModuleList(
            build_head(head, WriteHead, filled, f"{name}.writers[{i}]") for i, head in enumerate(s.writers)
        )
        read_width = sum(reader.out_features for reader in self.readers)
        self.read_out = ReadOut.from_spec(read_width, s)

    @property
    def out_features(self) -> int:
        return self.read_out.out_features

    def _heads(self) -> list[tuple[str, Head]]:
        return [
            *((f"reader_{i}", head) for i, head in enumerate(self.readers)),
            *((f"writer_{i}", head) for i, head in enumerate(self.writers)),
        ]

    def state_spec(self) -> dict[str, Any]:
        s = self.spec
        described: dict[str, Any] = {
            "keys": StateEntry((s.num_slots, s.key_size), doc="the key of each episode"),
            "values": StateEntry((s.num_slots, s.value_size), doc="the value of each episode"),
            "occupied": StateEntry((s.num_slots,), dtype="bool", doc="slots written since the last reset"),
        }
        for name, head in self._heads():
            if head.state_spec():
                described[name] = head.state_spec()
        return described

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        device, dtype = self._placement(device, dtype)
        state = super().init_state(batch_size, device=device, dtype=dtype)
        for name, head in self._heads():
            if name in state:
                state[name] = head.init_state(batch_size, device=device, dtype=dtype)
        return state

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        table = Table(state["keys"], state["values"], state["occupied"])
        new_state: State = {}
        reads, slots = [], []
        for i, reader in enumerate(self.readers):
            name = f"reader_{i}"
            reading = reader.read(x_t, table, state.get(name, {}))
            reads.append(reading.output)
            slots.append(reading.slots)
            if name in state:
                new_state[name] = reading.state
        read_slots = torch.cat(slots, dim=-1)
        for i, writer in enumerate(self.writers):
            name = f"writer_{i}"
            table, head_state = writer.write(x_t, table, state.get(name, {}), read_slots)
            if name in state:
                new_state[name] = head_state
        if is_tracing(self):
            report_trace(self, {"read_slots": read_slots, "occupied": table.occupied})
        y = self.read_out(torch.cat(reads, dim=-1), x_t)
        return y, {"keys": table.keys, "values": table.values, "occupied": table.occupied, **new_state}


class LongTerm(Episodic):
    """Long-term memory: a large episodic table read sparsely (4096 slots, top-8 reads, least-recently-used writes)."""

    spec_cls: ClassVar[type[ComponentSpec]] = LongTermSpec
