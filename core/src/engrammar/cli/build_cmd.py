"""``engrammar build FILE [--in-features N] [--set KEY=VALUE ...]``: validate a wiring, print its
execution plan and, per node, its widths, parameter count and state size; exit 0 when it builds."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build", help="validate a wiring file; print its plan, parameters and state size per node"
    )
    parser.add_argument("file", help="wiring file (.yaml, .toml or .json)")
    parser.add_argument("--in-features", type=int, default=None, help="override the input width")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted override, e.g. nodes.mem.memory_size=64 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    import warnings

    import torch
    from rich.console import Console
    from rich.table import Table

    from engrammar.spec import SpecError
    from engrammar.state import declared_nbytes
    from engrammar.wiring import load_graph_spec, make_plan, resolve_graph
    from engrammar.wiring.loader import parse_assignment
    from engrammar.wiring.plan import format_plan, short_use

    overrides = dict(parse_assignment(item) for item in args.set)
    if args.in_features is not None:
        overrides["in_features"] = args.in_features
    spec = load_graph_spec(args.file, overrides)
    if spec.in_features is None:
        raise SpecError(
            "in_features", "missing: the width of the graph input x (write it in the file or pass --in-features N)"
        )
    console = Console(width=160, highlight=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = resolve_graph(spec)
    for warning in caught:
        console.print(f"warning: {warning.message}", markup=False)
    plan = make_plan(graph)
    console.print(f"{spec.name}: in_features={graph.in_features}, out_features={graph.out_features}", markup=False)
    console.print("plan:", markup=False)
    console.print(format_plan(graph, plan), markup=False)
    table = Table(title="nodes (state bytes per sample, float32)", title_justify="left")
    for column in ("node", "use", "in", "out", "parameters", "state bytes"):
        table.add_column(column, justify="right" if column in ("in", "out", "parameters", "state bytes") else "left")
    float_bytes = torch.finfo(torch.float32).bits // 8
    total_parameters = total_state = total_growth = 0
    for name, node in graph.nodes.items():
        state_bytes = declared_nbytes(node.state_spec)
        growth = declared_nbytes(node.state_spec, steps=1) - state_bytes  # a cache's bytes per step seen
        total_parameters += node.num_parameters
        total_state += state_bytes
        total_growth += growth
        table.add_row(
            name,
            short_use(node.use),
            str(node.in_features),
            str(node.out_features),
            f"{node.num_parameters:,}",
            _bytes(state_bytes, growth),
        )
    history_bytes = sum(k * w for k, w in graph.history.values()) * float_bytes
    if history_bytes:
        sources = ", ".join(f"{s}@-{k}" for s, (k, _) in graph.history.items())
        table.add_row("(history)", sources, "", "", "0", f"{history_bytes:,}")
        total_state += history_bytes
    table.add_row("total", "", "", "", f"{total_parameters:,}", _bytes(total_state, total_growth), style="bold")
    console.print(table)
    return 0


def _bytes(fixed: int, growth: int) -> str:
    """``1,024``, or ``8 + 512/step`` for a cache that grows with the steps seen (to its cap, if any)."""
    return f"{fixed:,}" if not growth else f"{fixed:,} + {growth:,}/step"
