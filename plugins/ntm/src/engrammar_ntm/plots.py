"""PNG plots of an NTM trace: read and write weightings as heatmaps, interpolation gates and
sharpening over time, the expected shift of each head, and the final memory. matplotlib is needed
only here, imported when a plot is drawn (through core's :mod:`engrammar.nn.plotting`); install it
with ``pip install engrammar-ntm[plots]``.

From Python::

    mem = engrammar.build("ntm", in_features=8)
    with engrammar.recording(mem, traces=True) as record:
        mem(x)
    plot_trace(record.trace(mem), "plots/")         # or mem.plot_trace(record.trace(mem), "plots/")

`engrammar train` writes these plots by itself for every NTM of the model (into
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
    trace: Trace | Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "ntm"
) -> list[Path]:
    """Write ``<prefix>_read_weights.png``, ``_write_weights.png``, ``_controls.png`` and
    ``_memory.png`` for batch element ``sample`` into ``out_dir``; return their paths."""
    data = trace_sample(trace, sample=sample, required="read_weights")
    folder = PlotFolder(out_dir, prefix)

    for kind in ("read", "write"):
        weights = data[f"{kind}_weights"]  # (T, heads, N)
        heads = weights.shape[1]
        figure, axes = new_figure(1, heads, figsize=(4 * heads, 4), squeeze=False)
        for head in range(heads):
            heatmap(axes[0, head], weights[:, head], f"{kind} head {head}")
        folder.save(figure, f"{kind}_weights")

    figure, (gates_axes, sharp_axes, shift_axes) = new_figure(1, 3, figsize=(14, 4))
    for kind in ("read", "write"):
        gates, sharpness, shifts = data[f"{kind}_gates"], data[f"{kind}_sharpness"], data[f"{kind}_shifts"]
        reach = shifts.shape[-1] // 2
        expected_shift = (shifts * torch.arange(-reach, reach + 1, dtype=shifts.dtype)).sum(-1)  # (T, heads)
        for head in range(gates.shape[1]):
            gates_axes.plot(gates[:, head].numpy(), label=f"{kind} {head}")
            sharp_axes.plot(sharpness[:, head].numpy(), label=f"{kind} {head}")
            shift_axes.plot(expected_shift[:, head].numpy(), label=f"{kind} {head}")
    time_axes(gates_axes, "interpolation gate g", ylim=(-0.05, 1.05))
    time_axes(sharp_axes, "sharpening γ")
    time_axes(shift_axes, "expected shift")
    folder.save(figure, "controls")

    figure, memory_axes = new_figure(figsize=(5, 4))
    heatmap(
        memory_axes,
        data["memory"],
        "memory after the last step",
        xlabel="word component",
        ylabel="memory cell",
        cmap="coolwarm",
        vmin=None,
    )
    folder.save(figure, "memory")
    return folder.written
