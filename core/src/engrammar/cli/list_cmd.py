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
    parser.add_argument(
        "--check", action="store_true", help="import every plugin and mark the ones that are broken (slower)"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from engrammar.cli import installed_distributions
    from engrammar.registry import check, components

    infos = components(args.kind, args.pattern)
    names = [i.name for i in infos]
    problems = {info: check(info) for info in infos} if getattr(args, "check", False) else {}
    broken = sum(1 for problem in problems.values() if problem)
    title = f"{len(infos)} component(s)" + (f", {broken} broken" if problems else "")
    distributions = ", ".join(f"{name} {version}" for name, version in installed_distributions())
    table = Table(title=title, title_justify="left", caption=distributions, caption_justify="left")
    for column in ("name", "kind", "distribution", "version", "summary"):
        table.add_column(column, overflow="fold")
    for info in infos:
        shown = info.qualified_name if names.count(info.name) > 1 else info.name
        summary = f"BROKEN: {problems[info]}" if problems.get(info) else info.summary
        table.add_row(shown, info.kind, info.distribution, info.version, summary)
    Console(width=160).print(table)
    return 1 if broken else 0
