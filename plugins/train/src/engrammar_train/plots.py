"""PNG plots of a run's metrics: the loss, and the task's metric, against the step, for training
and evaluation. matplotlib is imported here only. Figures are drawn on matplotlib's ``Figure``
directly, never through ``pyplot``: no display is needed, and the user's backend (a notebook's
inline one, say) is left as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["COMPONENTS_PLOT", "plot_components", "plot_metrics"]

#: The plot of the components' metrics (inner losses, gates, norms) over the training steps.
COMPONENTS_PLOT = "components.png"


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


def plot_components(records: list[dict[str, Any]], out_dir: str | Path, title: str = "") -> Path | None:
    """Write ``components.png``: the metrics the model's components reported during training
    (``nodes.mem.inner_loss``, ``nodes.mem.lr``, ...), one panel per metric name with a line per
    module path, against the step. None (and no file) when the run has no such metric."""
    from matplotlib.figure import Figure

    from .checkpoint import write_atomic
    from .metrics import component_keys

    keys = component_keys(records)
    if not keys:
        return None
    panels: dict[str, list[str]] = {}
    for key in keys:
        panels.setdefault(key.rpartition(".")[2], []).append(key)
    figure = Figure(figsize=(7.0, 1.9 * len(panels) + 0.6), dpi=100)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axis, (name, members) in zip(axes, panels.items()):
        positive = True
        for key in members:
            points = [(r["step"], r[key]) for r in records if r.get("split") == "train" and r.get(key) is not None]
            if points:
                steps, values = zip(*points)
                positive = positive and min(values) > 0
                axis.plot(steps, values, "-", label=key.rpartition(".")[0], linewidth=1.0)
        if positive and "loss" in name:
            axis.set_yscale("log")
        axis.set_ylabel(name, fontsize=8)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("step")
    figure.suptitle(f"{title} — components" if title else "components", fontsize=9)
    figure.tight_layout()
    path = Path(out_dir) / COMPONENTS_PLOT
    write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))
    return path
