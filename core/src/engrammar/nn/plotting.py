"""Scaffolding for a plugin's PNG plots: figures without global state, heatmaps of weightings over
time, and one folder of named files. engrammar does not depend on matplotlib: it is imported
inside these functions, and its absence is one clear ``ImportError`` saying what to install.

Figures are ``matplotlib.figure.Figure`` objects made directly (not through ``pyplot``): no
backend is switched, no display is needed, nothing global is left open.

    folder = PlotFolder(out_dir, prefix="dnc")
    data = trace_sample(trace, sample=0, required="usage")          # {name: (T, ...) float CPU}
    figure, axes = new_figure(1, heads, figsize=(4 * heads, 4), squeeze=False)
    heatmap(axes[0, 0], data["read_weights"][:, 0], "read head 0")
    folder.save(figure, "read_weights")                               # out_dir/dnc_read_weights.png
    folder.written                                                    # the paths, in order
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["PlotFolder", "heatmap", "new_figure", "require_matplotlib", "save_figure", "time_axes", "trace_sample"]

#: What the ImportError says when matplotlib is absent.
MISSING_MATPLOTLIB = (
    "plotting needs matplotlib, which engrammar does not install by itself: "
    "pip install matplotlib (or a plugin's [plots] extra, e.g. pip install engrammar-dnc[plots])"
)


def require_matplotlib() -> Any:
    """The ``matplotlib.figure`` module; an ``ImportError`` saying what to install if it is absent."""
    try:
        from matplotlib import figure
    except ImportError as error:
        raise ImportError(MISSING_MATPLOTLIB) from error
    return figure


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.4, 4.8), **options: Any) -> Any:
    """A new figure and its axes, as ``pyplot.subplots`` returns them. ``options``: ``squeeze``,
    ``sharex``, ``gridspec_kw`` go to ``Figure.subplots``; ``layout`` (e.g. ``"constrained"``) to
    the figure."""
    figure_module = require_matplotlib()
    layout = options.pop("layout", None)
    figure = figure_module.Figure(figsize=figsize, layout=layout)
    return figure, figure.subplots(nrows, ncols, **options)


def save_figure(figure: Any, path: str | Path, *, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG to ``path`` (laid out tight unless the figure has a layout engine
    of its own) and return the path."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=dpi)
    return path


class PlotFolder:
    """Named PNG files ``<out_dir>/<prefix>_<name>.png``; the folder is made on first use."""

    def __init__(self, out_dir: str | Path, prefix: str, *, dpi: int = 100) -> None:
        self.out_dir = Path(out_dir)
        self.prefix = prefix
        self.dpi = dpi
        #: Every file saved so far, in order.
        self.written: list[Path] = []

    def save(self, figure: Any, name: str) -> Path:
        """Save ``figure`` as ``<prefix>_<name>.png`` and return its path."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = save_figure(figure, self.out_dir / f"{self.prefix}_{name}.png", dpi=self.dpi)
        self.written.append(path)
        return path


def heatmap(
    axes: Any,
    values: Tensor,
    title: str,
    *,
    xlabel: str = "memory cell",
    ylabel: str = "time step",
    cmap: str = "viridis",
    vmin: float | None = 0.0,
) -> Any:
    """Draw ``values`` (rows, columns), e.g. a weighting (T, N) over time, with a colour bar.
    ``vmin`` 0 suits weightings; pass None for signed values. Returns the image."""
    image = axes.imshow(
        values.detach().float().cpu().numpy(), aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin
    )
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.figure.colorbar(image, ax=axes)
    return image


def time_axes(axes: Any, title: str, *, ylim: tuple[float, float] | None = None, grid: bool = True) -> None:
    """Title, "time step" on x, a light grid, an optional y range and a legend if lines have labels."""
    axes.set_title(title)
    axes.set_xlabel("time step")
    if grid:
        axes.grid(True, alpha=0.3)
    if ylim is not None:
        axes.set_ylim(*ylim)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7)


def trace_sample(record: Any, *, sample: int, required: str) -> dict[str, Tensor]:
    """One batch element of a recorded trace, ready to draw: ``{name: tensor[sample]}`` as float32
    on the CPU, detached. ``record``: a mapping of stacked tensors (B, T, ...) (or (B, ...) for
    quantities kept for the last step only), as ``record.trace(component)`` of a recording opened
    with ``traces=True`` returns it, or an object with a ``stacked()`` method giving one (an
    :class:`engrammar.nn.Trace`).
    ``required``: a name the plots cannot do without; its absence means nothing was recorded.
    """
    stacked = record.stacked() if callable(getattr(record, "stacked", None)) else record
    if not isinstance(stacked, Mapping):
        raise TypeError(f"expected a mapping of tensors or an object with stacked(), got {type(record).__name__}")
    if required not in stacked:
        raise ValueError(
            f"the trace is empty (no {required!r} recorded): run the component inside "
            "engrammar.recording(model, traces=True) and plot record.trace(component)"
        )
    batch = stacked[required].shape[0]
    if not -batch <= sample < batch:
        raise IndexError(f"sample {sample} is out of range: the trace holds {batch} batch element(s)")
    return {name: tensor[sample].detach().float().cpu() for name, tensor in stacked.items()}
