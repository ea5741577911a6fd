"""Metrics as JSON lines: one object per line, ``{"step": 120, "split": "train", "loss": ...}``.

Appending a line is cheap and a crash loses at most the line being written. On resume the lines
past the checkpoint's step (written after it, by the interrupted run) are dropped, so the file
reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["METRICS_NAME", "MetricsLog", "read_metrics"]

METRICS_NAME = "metrics.jsonl"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


class MetricsLog:
    """Appends metric records to ``path`` (created with its folder on first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records whose step is past ``step`` (left by a run that stopped after its checkpoint)."""
        if not self.path.is_file():
            return
        from .checkpoint import write_atomic

        kept = [r for r in read_metrics(self.path) if int(r.get("step", 0)) <= step]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        # Atomic: a crash while rewriting must not lose the lines that are kept.
        write_atomic(self.path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics file, in order (a truncated last line is skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
