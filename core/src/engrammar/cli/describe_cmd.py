"""``engrammar describe NAME [--in-features N]``: spec fields and, for components, state entries."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("describe", help="spec fields, bounds, docs and state of a component")
    parser.add_argument("name", help="registry name (qualified as dist:name when ambiguous)")
    parser.add_argument("--in-features", type=int, default=None, help="input width for the state table")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="spec field for the state table"
    )


def run(args: argparse.Namespace) -> int:
    import attrs
    from rich.console import Console
    from rich.table import Table

    from engrammar.registry import load, resolve
    from engrammar.spec import rule_of, type_name

    info = resolve(args.name)
    cls = load(info)
    console = Console(width=160)
    console.print(f"[bold]{info.name}[/bold] ({info.kind}, {info.distribution} {info.version}): {info.summary}")
    spec_cls = getattr(cls, "spec_cls", None)
    if spec_cls is None:
        return 0
    attrs.resolve_types(spec_cls)
    fields = Table(title="spec fields", title_justify="left")
    for column in ("field", "type", "default", "rule", "doc"):
        fields.add_column(column, overflow="fold")
    for attribute in attrs.fields(spec_cls):
        default = "(required)" if attribute.default is attrs.NOTHING else repr(attribute.default)
        fields.add_row(
            attribute.name, type_name(attribute.type), default, rule_of(attribute), attribute.metadata.get("doc", "")
        )
    console.print(fields)
    if args.in_features is None or not hasattr(cls, "state_spec"):
        return 0
    from engrammar.wiring.loader import parse_assignment

    overrides = dict(parse_assignment(item) for item in args.set)
    from engrammar.registry import build

    component = build(info.qualified_name, in_features=args.in_features, **overrides)
    out_features = getattr(component, "out_features", None)  # a write head has no output
    widths = f"in_features={args.in_features}" + ("" if out_features is None else f", out_features={out_features}")
    state = Table(title=f"state ({widths})", title_justify="left")
    for column in ("entry", "shape", "dtype", "doc"):
        state.add_column(column)
    for name, entry in _flatten(component.state_spec()):
        state.add_row(name, _shape(entry), entry.dtype or "float", entry.doc)
    console.print(state)
    if not component.state_spec():
        console.print("stateless")
    return 0


def _shape(entry: Any) -> str:
    """``('B', 4, 16)``; a cache that grows shows its run-time dimension, ``'cache<=8'`` when capped."""
    cap = "" if entry.max_length is None else f"<={entry.max_length}"
    return str(("B", *(f"{size}{cap}" if isinstance(size, str) else size for size in entry.shape)))


def _flatten(spec: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in spec.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows
