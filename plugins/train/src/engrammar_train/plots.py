"""PNG plots of a run's metrics: the loss, and the task's metric, against the step, for training
and evaluation. matplotlib is imported here only. Figures are drawn on matplotlib's ``Figure``
directly, never through ``pyplot``: no display is needed, and the user's backend (a notebook's
inline one, say) is left as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_metrics"]


def plot_metrics(records: list[dict[str, Any]], out_dir: str | Path, metric: str, title: str = "") -> list[Path]:
    """Write ``loss.png`` and ``<metric>.png`` into ``out_dir``; return their paths."""
    from matplotlib.figure import Figure

    from .checkpoint import write_atomic

    out_dir = Path(out_dir)
    written = []
    for name in dict.fromkeys(["loss", metric]):
        figure = Figure(figsize=(6.4, 4.0), dpi=100)
        axes = figure.subplots()
        for split, style in (("train", "-"), ("eval", "o-")):
            points = [(r["step"], r[name]) for r in records if r.get("split") == split and r.get(name) is not None]
            if points:
                steps, values = zip(*points)
                axes.plot(steps, values, style, label=split, markersize=3)
        axes.set_xlabel("step")
        axes.set_ylabel(name)
        axes.set_title(f"{title} — {name}" if title else name)
        axes.grid(True, alpha=0.3)
        if axes.get_lines():
            axes.legend()
        figure.tight_layout()
        path = out_dir / f"{name}.png"
        write_atomic(path, lambda temporary, figure=figure: figure.savefig(temporary, format="png"))
        written.append(path)
    return written
