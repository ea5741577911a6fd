"""The head contract: read heads and write heads of an ``episodic`` table, each its own plugin.

A head is an ``nn.Module`` with an attrs spec, parameters only, and state of its own (declared
like a component's, kept inside the memory's state). ``episodic`` builds its heads by registry
name and fills in the fields that describe the table (:class:`HeadSpec`); every step it calls

    reading = reader.read(x_t, table, state)                # every reader, on the table as it was
    table, state = writer.write(x_t, table, state, slots)   # then every writer, in order

- ``x_t`` (B, in_features) is the memory's input at this step; ``table`` a :class:`~.table.Table`.
- A reader returns a :class:`Reading`: its output (B, out_features), its new state, and the slots
  it read most (B, S) int64, which writers that track use (``uses_reads``) receive, concatenated
  over readers, as ``slots``.
- A writer returns the new table (:func:`~.table.write_slot` writes one slot per sample) and its
  new state. It never changes the incoming table or state in place.

Register a reader in the ``engrammar.readers`` entry-point group and a writer in
``engrammar.writers``; ``episodic`` then uses it by name
(``readers: [{use: my_reader, <its fields>}]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import attrs
import torch
from engrammar.registry import RegistryError, load, resolve
from engrammar.spec import ComponentSpec, SpecError, field, ge, spec, structure
from engrammar.state import State, zeros_like_spec
from torch import Tensor, nn

from .table import Table

__all__ = ["HeadSpec", "ReadHead", "ReadHeadSpec", "Reading", "WriteHead", "build_head"]


@spec
class HeadSpec(ComponentSpec):
    """Fields every head has; ``episodic`` fills them in from its own spec and input width."""

    key_size: int = field(default=16, validator=ge(1), doc="K, the width of the table's keys (filled in by episodic)")
    value_size: int = field(
        default=16, validator=ge(1), doc="V, the width of the table's values (filled in by episodic)"
    )
    num_slots: int = field(default=128, validator=ge(1), doc="N, the slots of the table (filled in by episodic)")


@spec
class ReadHeadSpec(HeadSpec):
    num_heads: int = field(default=1, validator=ge(1), doc="queries read at once; each gives one value vector")


#: the fields of :class:`HeadSpec` that the memory owns
FILLED_IN = ("in_features", "key_size", "value_size", "num_slots")


class Reading(NamedTuple):
    """What a read head returns: output (B, out_features), its new state, and the slots it read
    most (B, S) int64 (one per query for a dense head, the k rows for a top-k head)."""

    output: Tensor
    state: State
    slots: Tensor


class Head(nn.Module):
    """Base class of read and write heads: a spec, parameters, and a declared state of its own."""

    spec_cls: ClassVar[type[HeadSpec]] = HeadSpec
    kind: ClassVar[str] = ""

    def __init__(self, spec: HeadSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__()
        if spec is None or isinstance(spec, Mapping):
            spec = structure({**dict(spec or {}), **fields}, self.spec_cls, path=type(self).__name__)
        elif fields:
            spec = structure({**attrs.asdict(spec), **fields}, self.spec_cls, path=type(self).__name__)
        if not isinstance(spec, self.spec_cls):
            raise TypeError(f"{type(self).__name__} takes a {self.spec_cls.__name__}, got {type(spec).__name__}")
        if spec.in_features is None:
            raise SpecError(f"{type(self).__name__}.in_features", "must be set (episodic fills it in)")
        self.spec = spec
        self.in_features: int = spec.in_features

    def state_spec(self) -> dict[str, Any]:
        """The head's own state entries (shapes without the batch); ``{}`` when it keeps none."""
        return {}

    def init_state(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> State:
        """The head's initial state (zeros of :meth:`state_spec` unless a head says otherwise)."""
        return zeros_like_spec(self.state_spec(), batch_size, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return ", ".join(f"{a.name}={getattr(self.spec, a.name)!r}" for a in attrs.fields(type(self.spec)))


class ReadHead(Head):
    """A read head: ``read(x_t, table, state) -> Reading``."""

    spec_cls: ClassVar[type[HeadSpec]] = ReadHeadSpec
    kind: ClassVar[str] = "readers"

    @property
    def out_features(self) -> int:
        """Width of the read: ``num_heads`` value vectors."""
        return int(getattr(self.spec, "num_heads", 1)) * self.spec.value_size

    def read(self, x_t: Tensor, table: Table, state: State) -> Reading:
        raise NotImplementedError(f"{type(self).__name__} must define read")


class WriteHead(Head):
    """A write head: ``write(x_t, table, state, slots) -> (table, state)``."""

    kind: ClassVar[str] = "writers"
    #: True when the head wants the slots the readers read at this step (a usage policy)
    uses_reads: ClassVar[bool] = False

    def write(self, x_t: Tensor, table: Table, state: State, slots: Tensor) -> tuple[Table, State]:
        raise NotImplementedError(f"{type(self).__name__} must define write")


def build_head(data: Mapping[str, Any], base: type[Head], filled: Mapping[str, int], path: str) -> Head:
    """Build the head ``data`` names (``{use: name, **fields}``) as a ``base`` (reader or writer),
    with the table's fields ``filled`` in; errors name their path (``Episodic.readers[0].top_k``)."""
    use = data["use"]
    try:
        info = resolve(use)
        cls = load(info)
    except RegistryError as err:
        raise SpecError(f"{path}.use", str(err)) from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        wanted = base.kind[:-1]
        raise SpecError(
            f"{path}.use", f"{use!r} ({info.kind}) is not a {wanted}: list them with engrammar list {base.kind}"
        )
    fields = {key: value for key, value in data.items() if key != "use"}
    for name, value in filled.items():
        if name in fields and fields[name] != value:
            raise SpecError(f"{path}.{name}", f"is {value}, filled in by the memory; remove it (got {fields[name]!r})")
        fields[name] = value
    head_spec = structure(fields, cls.spec_cls, path=path)
    try:
        return cls(head_spec)
    except SpecError as err:
        raise err.rerooted(cls.__name__, path) from None
