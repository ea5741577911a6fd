"""``engrammar list [KIND] [--pattern P]``: a table of the registered components (metadata only)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("list", help="list installed components (reads metadata only)")
    parser.add_argument(
        "kind", nargs="?", help="memories, controllers, routers, layers, tricks, tasks, readers or writers"
    )
    parser.add_argument("--pattern", "-p", default="*", help="glob on names, e.g. 'gated*'")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from engrammar.registry import components

    infos = components(args.kind, args.pattern)
    names = [i.name for i in infos]
    table = Table(title=f"{len(infos)} component(s)", title_justify="left")
    for column in ("name", "kind", "distribution", "version", "summary"):
        table.add_column(column, overflow="fold")
    for info in infos:
        shown = info.qualified_name if names.count(info.name) > 1 else info.name
        table.add_row(shown, info.kind, info.distribution, info.version, info.summary)
    Console(width=160).print(table)
    return 0
