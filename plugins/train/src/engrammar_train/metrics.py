"""Metrics as JSON lines: one object per line, ``{"step": 120, "split": "train", "loss": ...}``.

Training lines also carry the metrics the model's components report through the recorder
(``engrammar.report_metric``) under their module paths, ``"nodes.mem.inner_loss": ...``: each the
mean over the steps since the previous line (within a step: over its batches and truncation
chunks, weighted by time steps). See :class:`ComponentMetrics`.

Appending a line is cheap and a crash loses at most the line being written. On resume the lines
past the checkpoint's step (written after it, by the interrupted run) are dropped, so the file
reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["METRICS_NAME", "ComponentMetrics", "MetricsLog", "component_keys", "read_metrics"]

METRICS_NAME = "metrics.jsonl"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


#: The prefix of a metric reported by the trained model itself (no module path).
MODEL_PREFIX = "model."


class ComponentMetrics:
    """Weighted means of recorded metrics: ``add(record.metrics, weight)`` per call, ``means()``
    at the end. Keys are module paths and names (``nodes.mem.inner_loss``); a metric the model
    itself reports (no path) gets ``model.`` in front. Values that are not one number (a tensor of
    several entries) are left out."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, metrics: dict[str, Any], weight: float) -> None:
        for key, value in metrics.items():
            number = _number(value)
            if number is None:
                continue
            name = key if "." in key else MODEL_PREFIX + key
            self.sums[name] = self.sums.get(name, 0.0) + number * weight
            self.weights[name] = self.weights.get(name, 0.0) + weight

    def means(self) -> dict[str, float]:
        return {key: total / self.weights[key] for key, total in self.sums.items() if self.weights[key] > 0}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    numel = getattr(value, "numel", None)
    if callable(numel) and numel() == 1:
        return float(value.detach().float().cpu().item())
    return None


def component_keys(records: list[dict[str, Any]]) -> list[str]:
    """The component metrics in a run's training lines (keys with a module path), in first-seen order."""
    keys: dict[str, None] = {}
    for record in records:
        if record.get("split") == "train":
            for key, value in record.items():
                if "." in key and isinstance(value, (int, float)):
                    keys.setdefault(key)
    return list(keys)


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
