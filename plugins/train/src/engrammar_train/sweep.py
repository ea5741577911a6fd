"""Sweeps from the command line: ``engrammar train WIRING --task T -m --set a=1,2 --set b=x,y``.

Every ``--set`` value is a list of choices (the wiring language's sweep syntax, see
:func:`engrammar.wiring.expand_sweep`); the runs are the Cartesian product, one after another, each
in its own folder under ``--out`` named after its settings. ``summary.csv`` there gets one row per
run — the settings that vary, the task's metric at the end, the best evaluation of the monitored
metric and its step — and the same table is printed. A run that fails (a bad value, a NaN loss) is
reported in its row and the sweep goes on.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path
from typing import Any

__all__ = ["SUMMARY_NAME", "run_name", "run_sweep", "sweep_points"]

SUMMARY_NAME = "summary.csv"


def sweep_points(items: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The settings of every run, and the keys that take more than one value."""
    from engrammar.wiring.sweep import expand_sweep, split_choices

    points = expand_sweep(items)
    varying = [item.partition("=")[0].strip() for item in items if len(split_choices(item.partition("=")[2])) > 1]
    return points, varying


def run_name(index: int, settings: dict[str, Any]) -> str:
    """``03-memory_size=32,lr=0.003``: the run's number and its varying settings (last key part)."""
    parts = ",".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in settings.items())
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", f"{index:02d}-{parts}" if parts else f"{index:02d}")


def run_sweep(args: argparse.Namespace, out: str, config: dict[str, Any]) -> int:
    from engrammar.registry import RegistryError
    from engrammar.spec import SpecError
    from rich.console import Console
    from rich.table import Table

    from .api import train
    from .errors import TrainingError

    points, varying = sweep_points(list(args.overrides))
    rows: list[dict[str, Any]] = []
    metric_name = "metric"
    is_main = True
    for index, point in enumerate(points):
        settings = {key: point[key] for key in varying}
        folder = Path(out) / run_name(index, settings)
        started = time.perf_counter()
        row: dict[str, Any] = {"run": folder.name, **settings}
        try:
            result = train(
                args.wiring,
                args.task,
                out=folder,
                overrides=point,
                config=config,
                tricks=args.tricks,
                loggers=args.loggers,
                resume=args.resume,
                progress=not args.no_progress,
            )
        except (SpecError, RegistryError, TrainingError) as err:
            row.update({"error": str(err)})
        else:
            metric_name = result.metric_name
            monitor = result.trainer.monitor
            is_main = result.trainer.is_main
            row.update(
                {
                    metric_name: result.metric,
                    f"best {monitor.metric}": monitor.best if monitor.best_step is not None else None,
                    "best step": monitor.best_step,
                    "steps": result.step,
                }
            )
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
    if not is_main:
        return 0
    columns = list(dict.fromkeys(key for row in rows for key in row))
    Path(out).mkdir(parents=True, exist_ok=True)
    with (Path(out) / SUMMARY_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    table = Table(title=f"{len(rows)} run(s): {Path(out) / SUMMARY_NAME}", title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console(width=160, highlight=False).print(table)
    return 1 if any("error" in row for row in rows) else 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
