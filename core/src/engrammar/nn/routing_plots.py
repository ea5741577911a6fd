"""Routing plots: where the tokens went. Two PNG files from a router's (or ``moe``'s) trace:

- ``<prefix>_routing_share.png``: the share of tokens per expert over time, stacked (a trailing
  mean over a window of steps and over every sequence of the batch; a top-1 router's shares are
  the fractions of tokens each expert received; tokens that no expert took are shown as dropped);
- ``<prefix>_routing_weights.png``: the (time x expert) heat map of one sequence's weights.

Drawn with :mod:`engrammar.nn.plotting`: matplotlib is imported only when a plot is made (engrammar
does not depend on it), and figures are made without pyplot, so no backend is switched.

    with engrammar.recording(model, traces=True) as record:
        model(x)
    plot_routing(record.trace(model.nodes["mix"]), "plots/", prefix="mix")

``engrammar train`` writes these plots for every routed node (a ``moe`` with its built-in router,
or the router of a ``moe`` that uses one from the registry) into ``<out>/trace/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from .plotting import PlotFolder, heatmap, new_figure, time_axes, trace_sample

__all__ = ["default_window", "plot_routing", "routing_shares"]


def routing_shares(weights: Tensor, window: int = 1) -> Tensor:
    """Share of tokens per expert over time: (B, T, E) weights -> (T, E).

    Each token's weights are scaled to sum to 1 (a token whose weights are all 0, dropped by every
    expert, counts for none); the shares are averaged over the batch and over the ``window`` steps
    ending at each step (fewer at the start). Rows sum to the fraction of tokens not dropped."""
    if weights.dim() != 3:
        raise ValueError(f"routing weights are (B, T, E), got shape {tuple(weights.shape)}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    weights = weights.detach().double()
    totals = weights.sum(-1, keepdim=True)
    per_token = torch.where(totals > 0, weights / totals.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    per_step = per_token.mean(0)  # (T, E)
    running = torch.cat([per_step.new_zeros(1, per_step.shape[1]), per_step.cumsum(0)])
    ends = torch.arange(1, per_step.shape[0] + 1)
    starts = (ends - window).clamp_min(0)
    return (running[ends] - running[starts]) / (ends - starts).unsqueeze(1)


def default_window(length: int) -> int:
    """The smoothing window of the share plot: a tenth of the sequence, at least one step."""
    return max(1, length // 10)


def plot_routing(
    trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "router"
) -> list[Path]:
    """Write ``<prefix>_routing_share.png`` and ``<prefix>_routing_weights.png`` into ``out_dir``
    from a trace holding ``"weights"`` (B, T, E); the heat map shows batch element ``sample``.
    Returns the paths written."""
    one = trace_sample(trace, sample=sample, required="weights")  # checks the trace and the sample
    weights = trace["weights"].detach().float().cpu()
    if weights.dim() != 3:
        raise ValueError(f"routing weights are (B, T, E), got shape {tuple(weights.shape)}")
    batch, length, experts = weights.shape
    folder = PlotFolder(out_dir, prefix)

    window = default_window(length)
    shares = routing_shares(weights, window).float().numpy()
    series, labels = list(shares.T), [f"expert {e}" for e in range(experts)]
    dropped = 1.0 - shares.sum(-1)
    if dropped.max() > 1e-6:  # tokens no expert took (over capacity)
        series.append(dropped.clip(0.0, 1.0))
        labels.append("dropped")
    colours = [f"C{e % 10}" for e in range(experts)] + ["lightgrey"]
    figure, axes = new_figure(figsize=(7, 4))
    axes.stackplot(range(length), series, labels=labels, colors=colours[: len(series)], alpha=0.85)
    axes.set_xlim(0, max(length - 1, 1))
    axes.set_ylabel("share of tokens")
    time_axes(axes, f"share of tokens per expert ({batch} sequence(s), mean over {window} step(s))", ylim=(0.0, 1.0))
    folder.save(figure, "routing_share")

    figure, axes = new_figure(figsize=(max(4.0, 1.0 + 0.6 * experts), 4))
    heatmap(axes, one["weights"], f"routing weights (sequence {sample})", xlabel="expert")
    axes.set_xticks(range(experts))
    folder.save(figure, "routing_weights")
    return folder.written
