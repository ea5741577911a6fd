"""From a file, a mapping or a spec to a graph spec, and to a built :class:`Graph`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .graph import Graph
from .loader import apply_overrides, load_data, resolve_extends
from .spec import GraphSpec

__all__ = ["build_wiring", "load_graph_spec"]


def load_graph_spec(
    source: str | Path | Mapping[str, Any] | GraphSpec | Any,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> GraphSpec:
    """The :class:`GraphSpec` of a wiring file (YAML, TOML or JSON), a mapping or a spec, with
    ``extends:`` resolved and dotted ``overrides`` applied (``{"nodes.mem.memory_size": 64}`` or
    ``["nodes.mem.memory_size=64"]``)."""
    data = source_data(source)
    if overrides:
        data = apply_overrides(data, overrides)
    return GraphSpec.from_data(data)


def source_data(source: str | Path | Mapping[str, Any] | GraphSpec | Any) -> dict[str, Any]:
    """The plain data of a wiring file, a packaged resource, a mapping or a spec, ``extends:``
    resolved (no overrides applied)."""
    if isinstance(source, GraphSpec):
        return source.to_data()
    if isinstance(source, Mapping):
        return resolve_extends(source, Path.cwd())
    return load_data(source)  # a path, or a file inside a package (importlib.resources)


def build_wiring(source: str | Path | Mapping[str, Any] | GraphSpec, **overrides: Any) -> Graph:
    """Build a wiring as one component. Keyword overrides are dotted keys (top-level keys such as
    ``in_features`` can be passed directly)::

        net = build_wiring("examples/lstm_dnc.yaml", in_features=16, **{"nodes.mem.memory_size": 64})
    """
    return Graph(load_graph_spec(source, overrides))
