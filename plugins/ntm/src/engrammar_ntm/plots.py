"""PNG plots of an NTM trace: read and write weightings as heatmaps, interpolation gates and
sharpening over time, the expected shift of each head, and the final memory. matplotlib is imported
here only, lazily, with the Agg backend; install it with ``pip install engrammar-ntm[plots]``.

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
from typing import Any

import torch
from engrammar.nn.trace import Trace
from torch import Tensor

__all__ = ["plot_trace"]


def plot_trace(
    trace: Trace | Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "ntm"
) -> list[Path]:
    """Write ``<prefix>_read_weights.png``, ``_write_weights.png``, ``_controls.png`` and
    ``_memory.png`` for batch element ``sample`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = trace.stacked() if isinstance(trace, Trace) else dict(trace)
    if "read_weights" not in record:
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

    for kind in ("read", "write"):
        weights = data[f"{kind}_weights"]  # (T, heads, N)
        heads = weights.shape[1]
        figure, axes = plt.subplots(1, heads, figsize=(4 * heads, 4), squeeze=False)
        for head in range(heads):
            image = axes[0, head].imshow(weights[:, head].numpy(), aspect="auto", interpolation="nearest", vmin=0.0)
            axes[0, head].set_title(f"{kind} head {head}")
            axes[0, head].set_xlabel("memory cell")
            axes[0, head].set_ylabel("time step")
            figure.colorbar(image, ax=axes[0, head])
        save(figure, f"{kind}_weights")

    figure, (gates_axes, sharp_axes, shift_axes) = plt.subplots(1, 3, figsize=(14, 4))
    for kind in ("read", "write"):
        gates, sharpness, shifts = data[f"{kind}_gates"], data[f"{kind}_sharpness"], data[f"{kind}_shifts"]
        reach = shifts.shape[-1] // 2
        expected_shift = (shifts * torch.arange(-reach, reach + 1, dtype=shifts.dtype)).sum(-1)  # (T, heads)
        for head in range(gates.shape[1]):
            gates_axes.plot(gates[:, head].numpy(), label=f"{kind} {head}")
            sharp_axes.plot(sharpness[:, head].numpy(), label=f"{kind} {head}")
            shift_axes.plot(expected_shift[:, head].numpy(), label=f"{kind} {head}")
    for axes, title in (
        (gates_axes, "interpolation gate g"),
        (sharp_axes, "sharpening γ"),
        (shift_axes, "expected shift"),
    ):
        axes.set_title(title)
        axes.set_xlabel("time step")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    gates_axes.set_ylim(-0.05, 1.05)
    save(figure, "controls")

    figure, memory_axes = plt.subplots(figsize=(5, 4))
    image = memory_axes.imshow(data["memory"].numpy(), aspect="auto", interpolation="nearest", cmap="coolwarm")
    memory_axes.set_title("memory after the last step")
    memory_axes.set_xlabel("word component")
    memory_axes.set_ylabel("memory cell")
    figure.colorbar(image, ax=memory_axes)
    save(figure, "memory")
    return written
