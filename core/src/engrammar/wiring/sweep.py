"""Sweeps: ``key=v1,v2,...`` overrides expanded into every combination (Hydra's multirun syntax,
without Hydra)::

    >>> expand_sweep(["nodes.mem.memory_size=16,32", "nodes.ctrl.hidden_size=64"])
    [{'nodes.mem.memory_size': 16, 'nodes.ctrl.hidden_size': 64},
     {'nodes.mem.memory_size': 32, 'nodes.ctrl.hidden_size': 64}]

Values are parsed as YAML scalars; commas inside brackets or quotes do not split (``k=[1,2],[3]``
sweeps over two lists). :func:`sweep_specs` turns a file and a sweep into graph specs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..spec import SpecError
from .loader import parse_value

__all__ = ["expand_sweep", "split_choices", "sweep_specs"]


def split_choices(text: str) -> list[str]:
    """Split ``"1,2,[3,4]"`` at the commas that are not inside brackets, braces or quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def expand_sweep(items: Iterable[str] | Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the choices, as override dicts (the first key varies slowest)."""
    axes: list[tuple[str, list[Any]]] = []
    if isinstance(items, Mapping):
        axes = [(key, list(values)) for key, values in items.items()]
    else:
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise SpecError(item, "expected KEY=V1,V2,... (a dotted key and comma-separated values)")
            choices = split_choices(text)
            if any(choice == "" for choice in choices):
                raise SpecError(item, "empty value in the list of choices")
            axes.append((key.strip(), [parse_value(choice) for choice in choices]))
    keys = [key for key, _ in axes]
    if len(set(keys)) != len(keys):
        raise SpecError(", ".join(keys), "a key appears twice in the sweep")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values for _, values in axes))]


def sweep_specs(
    source: str | Path | Mapping[str, Any], sweep: Iterable[str] | Mapping[str, Iterable[Any]]
) -> list[tuple[dict[str, Any], Any]]:
    """``(overrides, GraphSpec)`` for every point of the sweep, each validated as a spec."""
    from .build import load_graph_spec

    return [(point, load_graph_spec(source, point)) for point in expand_sweep(sweep)]
