"""PNG plots of a DNC trace: usage over time, read and write weightings as heatmaps, gates and
read modes, and the final temporal link matrix. matplotlib is needed only here, imported when a plot
is drawn (through core's :mod:`engrammar.nn.plotting`); install it with
``pip install engrammar-dnc[plots]``.

From Python::

    mem = engrammar.build("dnc", in_features=8)
    with engrammar.recording(mem, traces=True) as record:
        mem(x)
    plot_trace(record.trace(mem), "plots/")         # or mem.plot_trace(record.trace(mem), "plots/")

`engrammar train` writes these plots by itself for every DNC of the model (into
``<out>/trace/``, see the trainer's ``plot_traces``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from engrammar.nn.plotting import PlotFolder, heatmap, new_figure, time_axes, trace_sample
from engrammar.nn.trace import Trace
from torch import Tensor

__all__ = ["plot_trace"]


def plot_trace(
    trace: Trace | Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "dnc"
) -> list[Path]:
    """Write ``<prefix>_usage.png``, ``_read_weights.png``, ``_write_weights.png``, ``_gates.png``
    and ``_link.png`` for batch element ``sample`` into ``out_dir``; return their paths."""
    data = trace_sample(trace, sample=sample, required="usage")
    folder = PlotFolder(out_dir, prefix)

    usage = data["usage"]  # (T, N)
    figure, (left, right) = new_figure(1, 2, figsize=(10, 4))
    heatmap(left, usage, "usage per cell")
    right.plot(usage.sum(-1).numpy())
    time_axes(right, "total usage (cells in use)")
    folder.save(figure, "usage")

    for kind in ("read", "write"):
        weights = data[f"{kind}_weights"]  # (T, heads, N)
        heads = weights.shape[1]
        figure, axes = new_figure(1, heads, figsize=(4 * heads, 4), squeeze=False)
        for head in range(heads):
            heatmap(axes[0, head], weights[:, head], f"{kind} head {head}")
        folder.save(figure, f"{kind}_weights")

    figure, (gates_axes, modes_axes) = new_figure(1, 2, figsize=(10, 4))
    for name in ("write_gates", "allocation_gates", "free_gates"):
        values = data[name]  # (T, heads)
        for head in range(values.shape[1]):
            gates_axes.plot(values[:, head].numpy(), label=f"{name.removesuffix('s')} {head}")
    time_axes(gates_axes, "gates", ylim=(-0.05, 1.05), grid=False)
    modes = data["read_modes"]  # (T, R, 2H + 1): backward..., forward..., content
    heads = (modes.shape[-1] - 1) // 2
    grouped = torch.stack([modes[..., :heads].sum(-1), modes[..., heads:-1].sum(-1), modes[..., -1]], dim=-1)
    mean_modes = grouped.mean(1)  # over read heads: (T, 3)
    modes_axes.stackplot(range(mean_modes.shape[0]), mean_modes.T.numpy(), labels=["backward", "forward", "content"])
    time_axes(modes_axes, "read modes (mean over read heads)", grid=False)
    folder.save(figure, "gates")

    link = data["link"]  # (H, N, N), after the last step
    figure, axes = new_figure(1, link.shape[0], figsize=(4.5 * link.shape[0], 4), squeeze=False)
    for head in range(link.shape[0]):
        heatmap(
            axes[0, head],
            link[head],
            f"link, write head {head} (row i after column j)",
            xlabel="cell j",
            ylabel="cell i",
        )
    folder.save(figure, "link")
    return folder.written
