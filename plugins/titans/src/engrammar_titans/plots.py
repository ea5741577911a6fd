"""Plots of a memory's recorded trace: the inner loss over time, the learned gates, the norm of the
memory's weights. ``engrammar train`` calls :func:`plot_trace` through the components'
``plot_trace`` method for every ``neural_memory`` / ``ttt_*`` node of a trained model (matplotlib:
``pip install engrammar-titans[plots]``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

__all__ = ["plot_trace"]

_LABELS = {
    "inner_loss": "inner loss ℓ_t",
    "lr": "learning rate θ_t",
    "momentum": "momentum η_t",
    "decay": "decay α_t",
    "weight_norm": "‖weights‖ (gradient point)",
}


def plot_trace(
    trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "memory"
) -> list[Path]:
    """One figure, ``<prefix>_memory.png``: a panel per traced quantity (each (B, T, H)), a line per
    head for sample ``sample`` and the batch mean dashed. Returns the paths written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install engrammar-titans[plots]") from err
    names = [name for name in _LABELS if name in trace]
    figure, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names)), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        values = trace[name].detach().float().cpu()  # (B, T, H)
        for head in range(values.shape[-1]):
            axis.plot(values[sample, :, head].numpy(), linewidth=1.0, label=f"head {head}")
        axis.plot(values.mean(dim=(0, 2)).numpy(), "k--", linewidth=1.0, label="mean")
        axis.set_ylabel(_LABELS[name], fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("time step")
    figure.suptitle(f"{prefix}: sample {sample}", fontsize=9)
    figure.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{prefix}_memory.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return [path]
