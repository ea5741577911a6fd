"""PNG plots of a DNC trace: usage over time, read and write weightings as heatmaps, gates and
read modes, and the final temporal link matrix. matplotlib is imported here only, lazily, with the
Agg backend (no display needed); install it with ``pip install engrammar-dnc[plots]``.

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
from typing import Any

import torch
from engrammar.nn.trace import Trace
from torch import Tensor

__all__ = ["plot_trace"]


def plot_trace(
    trace: Trace | Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "dnc"
) -> list[Path]:
    """Write ``<prefix>_usage.png``, ``_read_weights.png``, ``_write_weights.png``, ``_gates.png``
    and ``_link.png`` for batch element ``sample`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = trace.stacked() if isinstance(trace, Trace) else dict(trace)
    if "usage" not in record:
        raise ValueError("the trace is empty: run the component inside engrammar.recording(model, traces=True)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {name: tensor[sample].detach().float().cpu() for name, tensor in record.items()}
    written: list[Path] = []

    def save(figure: Any, name: str) -> None:
        figure.tight_layout()
        path = out_dir / f"{prefix}_{name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)

    def heatmap(axes: Any, values: Tensor, title: str, xlabel: str = "memory cell", ylabel: str = "time step") -> None:
        image = axes.imshow(values.numpy(), aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.figure.colorbar(image, ax=axes)

    usage = data["usage"]  # (T, N)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    heatmap(left, usage, "usage per cell")
    right.plot(usage.sum(-1).numpy())
    right.set_title("total usage (cells in use)")
    right.set_xlabel("time step")
    right.grid(True, alpha=0.3)
    save(figure, "usage")

    for kind in ("read", "write"):
        weights = data[f"{kind}_weights"]  # (T, heads, N)
        heads = weights.shape[1]
        figure, axes = plt.subplots(1, heads, figsize=(4 * heads, 4), squeeze=False)
        for head in range(heads):
            heatmap(axes[0, head], weights[:, head], f"{kind} head {head}")
        save(figure, f"{kind}_weights")

    figure, (gates_axes, modes_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("write_gates", "allocation_gates", "free_gates"):
        values = data[name]  # (T, heads)
        for head in range(values.shape[1]):
            gates_axes.plot(values[:, head].numpy(), label=f"{name.removesuffix('s')} {head}")
    gates_axes.set_title("gates")
    gates_axes.set_xlabel("time step")
    gates_axes.set_ylim(-0.05, 1.05)
    gates_axes.legend(fontsize=7)
    modes = data["read_modes"]  # (T, R, 2H + 1): backward..., forward..., content
    heads = (modes.shape[-1] - 1) // 2
    grouped = torch.stack([modes[..., :heads].sum(-1), modes[..., heads:-1].sum(-1), modes[..., -1]], dim=-1)
    mean_modes = grouped.mean(1)  # over read heads: (T, 3)
    modes_axes.stackplot(range(mean_modes.shape[0]), mean_modes.T.numpy(), labels=["backward", "forward", "content"])
    modes_axes.set_title("read modes (mean over read heads)")
    modes_axes.set_xlabel("time step")
    modes_axes.legend(fontsize=7, loc="upper right")
    save(figure, "gates")

    link = data["link"]  # (H, N, N), after the last step
    figure, axes = plt.subplots(1, link.shape[0], figsize=(4.5 * link.shape[0], 4), squeeze=False)
    for head in range(link.shape[0]):
        heatmap(axes[0, head], link[head], f"link, write head {head} (row i after column j)", "cell j", "cell i")
    save(figure, "link")
    return written
