"""PNG plots of a run's metrics: the loss, and the task's metric, against the step, for training
and evaluation. matplotlib is imported here only (with the Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_metrics"]


def plot_metrics(records: list[dict[str, Any]], out_dir: str | Path, metric: str, title: str = "") -> list[Path]:
    """Write ``loss.png`` and ``<metric>.png`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    for name in dict.fromkeys(["loss", metric]):
        figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for split, style in (("train", "-"), ("eval", "o-")):
            points = [(r["step"], r[name]) for r in records if r.get("split") == split and r.get(name) is not None]
            if points:
                steps, values = zip(*points)
                axes.plot(steps, values, style, label=split, markersize=3)
        axes.set_xlabel("step")
        axes.set_ylabel(name)
        axes.set_title(f"{title} — {name}" if title else name)
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = out_dir / f"{name}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
