"""Plots of what the memories report (matplotlib: ``pip install engrammar-titans[plots]``).

- :func:`plot_trace`: one sequence's recorded trace, token by token: the inner loss, the learned
  gates, the norm of the weights the gradients are taken at. ``engrammar train`` calls it, through
  the components' ``plot_trace`` method, for every ``neural_memory`` / ``ttt_*`` node of a trained
  model (``<run>/trace/<node path>_memory.png``).
- :func:`plot_training`: the same metrics over a run's training steps, from ``metrics.jsonl`` (the
  trainer logs every metric the components report, e.g. ``nodes.mem.inner_loss``)::

      python -m engrammar_titans.plots runs/neural_memory_mqar-mqar      # -> <run>/memory_metrics.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

__all__ = ["plot_trace", "plot_training"]

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
    plt = _pyplot()
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


def plot_training(run: str | Path, out: str | Path | None = None) -> Path:
    """The memories' metrics over a run's training steps (``<node>.inner_loss``, ``.lr``,
    ``.momentum``, ``.decay``, ``.weight_norm`` in the training lines of ``metrics.jsonl``): one panel per metric
    name, a line per node. Writes ``<run>/memory_metrics.png`` (or ``out``) and returns its path."""
    run = Path(run)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [line for line in lines if line.get("split") == "train"]
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for line in train:
        for key, value in line.items():
            node, _, name = key.rpartition(".")
            if node and name in _LABELS:
                steps, values = series.setdefault(name, {}).setdefault(node, ([], []))
                steps.append(int(line["step"]))
                values.append(float(value))
    if not series:
        raise ValueError(f"{run / 'metrics.jsonl'}: no memory metrics (<node>.inner_loss, ...) in the training lines")
    plt = _pyplot()
    names = [name for name in _LABELS if name in series]
    figure, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names)), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        for node, (steps, values) in series[name].items():
            axis.plot(steps, values, linewidth=1.0, label=node)
        axis.set_ylabel(_LABELS[name], fontsize=8)
        if name == "inner_loss":
            axis.set_yscale("log")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("training step")
    figure.suptitle(f"{run.name}: mean over each logged batch", fontsize=9)
    figure.tight_layout()
    path = Path(out) if out is not None else run / "memory_metrics.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install engrammar-titans[plots]") from err
    return plt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="plot the memories' metrics over a run's training steps")
    parser.add_argument("run", help="a run folder of engrammar train (with metrics.jsonl)")
    parser.add_argument("--out", help="the PNG to write (default: <run>/memory_metrics.png)")
    args = parser.parse_args(argv)
    print(plot_training(args.run, args.out))


if __name__ == "__main__":
    main()
