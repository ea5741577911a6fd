"""``SweepSummary``: a Hydra callback that, at the end of a multirun, gathers every job's
``result.json`` into ``summary.csv`` and ``summary.md`` in the sweep folder and prints the table.

One row per job, in job order: its overrides, the last validation's loss and task metrics, the
steps, epochs and seconds, or its error."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["SUMMARY_NAME", "SweepSummary", "summarize"]

SUMMARY_NAME = "summary"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def summarize(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep folder's jobs (``<job>/result.json`` and ``<job>/.hydra/overrides.yaml``),
    written to ``summary.csv`` and ``summary.md`` there."""
    import yaml

    sweep = Path(sweep_dir)
    rows: list[dict[str, Any]] = []
    jobs = sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    for job in jobs:
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        row: dict[str, Any] = {"job": int(job.name), "overrides": " ".join(overrides or [])}
        result_file = job / "result.json"
        result = json.loads(result_file.read_text()) if result_file.is_file() else {"error": "no result.json"}
        for name, value in (result.get("metrics") or {}).items():
            row[f"val_{name}"] = value
        for key in ("steps", "epochs", "seconds", "parameters"):
            if key in result:
                row[key] = result[key]
        row["error"] = result.get("error", "")
        rows.append(row)
    # The overrides every job shares are said once, above the table; the rows show what differs.
    common = set.intersection(*(set(row["overrides"].split()) for row in rows)) if rows else set()
    for row in rows:
        row["overrides"] = " ".join(item for item in row["overrides"].split() if item not in common)
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    columns = [c for c in columns if c != "error"] + ["error"]
    with (sweep / f"{SUMMARY_NAME}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    shared = [f"Every job: `{' '.join(sorted(common))}`", ""] if common else []
    lines = [*shared, "| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(_format(row.get(c)) for c in columns) + " |" for row in rows]
    (sweep / f"{SUMMARY_NAME}.md").write_text("\n".join(lines) + "\n")
    return rows


class SweepSummary(Callback):
    """Writes and prints the sweep's summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(str(config.hydra.sweep.dir))
        if not sweep.is_dir():
            return
        summarize(sweep)
        print((sweep / f"{SUMMARY_NAME}.md").read_text(), end="")
        print(f"summary: {sweep / (SUMMARY_NAME + '.csv')}")
