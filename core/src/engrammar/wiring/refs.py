"""Input references: ``x``, ``name`` or ``name@-k`` (that node's output k steps earlier).

A node's ``in`` is one reference or a list of them (concatenated along features, in order).
"""

from __future__ import annotations

import re

import attrs

from ..spec import SpecError

__all__ = ["INPUT", "Ref", "format_ref", "is_node_name", "parse_ref"]

#: The name of the graph's own input.
INPUT = "x"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_REF = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?:@\s*-\s*(?P<delay>\d+)\s*)?$")


@attrs.frozen
class Ref:
    """A reference to a node's output (or to the input ``x``), ``delay`` steps earlier (0 = now)."""

    name: str
    delay: int = 0

    def __str__(self) -> str:
        return format_ref(self)


def is_node_name(name: str) -> bool:
    return re.fullmatch(_NAME, name) is not None


def parse_ref(text: object, path: str) -> Ref:
    """``"mem@-1"`` -> ``Ref("mem", 1)``; a bad reference raises :class:`SpecError` at ``path``."""
    if not isinstance(text, str):
        raise SpecError(path, f"expected a reference (x, a node name or name@-k), got {text!r}")
    match = _REF.match(text)
    if match is None:
        raise SpecError(path, f"invalid reference {text!r}: write x, a node name, or name@-k with k >= 1")
    delay = int(match["delay"]) if match["delay"] is not None else 0
    if match["delay"] is not None and delay < 1:
        raise SpecError(path, f"invalid reference {text!r}: the delay k in name@-k must be >= 1")
    return Ref(match["name"], delay)


def format_ref(ref: Ref) -> str:
    return ref.name if ref.delay == 0 else f"{ref.name}@-{ref.delay}"
