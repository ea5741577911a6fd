"""The wiring language: a network of registered components, written in a file or in Python, built
as one component. See docs/wiring.md.

    net = engrammar.build("examples/lstm_dnc.yaml")         # or build_wiring(...), or Wiring(...).build()
"""

from __future__ import annotations

from .build import build_wiring, load_graph_spec
from .builder import NodeRef, Wiring
from .errors import WiringError
from .graph import Graph, WiringFile, WiringFileSpec, wiring_class, wiring_file_class
from .loader import apply_overrides, load_data, merge
from .plan import Plan, Stage, format_plan, make_plan
from .refs import Ref, parse_ref
from .spec import GraphSpec, NodeSpec
from .sweep import expand_sweep, sweep_specs
from .validate import ResolvedGraph, UnusedNodeWarning, resolve_graph

__all__ = [
    "Graph",
    "GraphSpec",
    "NodeRef",
    "NodeSpec",
    "Plan",
    "Ref",
    "ResolvedGraph",
    "Stage",
    "UnusedNodeWarning",
    "Wiring",
    "WiringError",
    "WiringFile",
    "WiringFileSpec",
    "apply_overrides",
    "build_wiring",
    "expand_sweep",
    "format_plan",
    "load_data",
    "load_graph_spec",
    "make_plan",
    "merge",
    "parse_ref",
    "resolve_graph",
    "sweep_specs",
    "wiring_class",
    "wiring_file_class",
]
