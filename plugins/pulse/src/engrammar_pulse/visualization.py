"""``PULSEVisualizer``: PNG plots of routing (attention) maps and of state evolution.

Drawn with the scaffolding of :mod:`engrammar.nn.plotting` (figures without pyplot, no backend
switched); matplotlib is imported only when a plot is drawn, and its absence is one ImportError
saying what to install (``pip install engrammar-pulse[plots]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from engrammar.nn.plotting import heatmap, new_figure, save_figure, time_axes
from torch import Tensor

__all__ = ["PULSEVisualizer"]


class PULSEVisualizer:
    """Writes plots as PNG files into ``out_dir`` (made on first use) and returns their paths."""

    def __init__(self, out_dir: str | Path = "pulse_plots", dpi: int = 100) -> None:
        self.out_dir = Path(out_dir)
        self.dpi = dpi
        #: every file written so far, in order
        self.written: list[Path] = []

    def _path(self, save_path: str | Path | None, default: str) -> Path:
        if save_path is not None:
            path = Path(save_path)
        else:
            path = self.out_dir / default
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def plot_attention_map(
        self,
        attention_weights: Tensor,
        save_path: str | Path | None = None,
        *,
        sample: int = 0,
        title: str = "routing weights",
        xlabel: str = "state slot",
        ylabel: str = "token",
    ) -> Path:
        """Heat map of ``attention_weights`` (T, S), or (B, T, S) of which ``sample`` is drawn (the
        routing weights a :class:`TokenToStateRouter` returns); returns the PNG's path."""
        weights = _one_sample(attention_weights, sample, matrix_dims=2, name="attention_weights")
        figure, axes = new_figure(
            figsize=(max(4.0, 0.5 * weights.shape[1] + 2.5), max(3.0, 0.15 * weights.shape[0] + 2))
        )
        heatmap(axes, weights, title, xlabel=xlabel, ylabel=ylabel)
        path = save_figure(figure, self._path(save_path, "attention_map.png"), dpi=self.dpi)
        self.written.append(path)
        return path

    def plot_state_evolution(
        self,
        state_trajectories: Tensor | Sequence[Tensor],
        save_path: str | Path | None = None,
        *,
        sample: int = 0,
        title: str = "state evolution",
    ) -> Path:
        """The norm of each state over time: lines and a heat map (time, state).

        ``state_trajectories``: a list of T state tensors, each (S, D) or (B, S, D), or one tensor
        (T, S, D) or (B, T, S, D) (``sample`` picks the batch element); returns the PNG's path."""
        if isinstance(state_trajectories, Tensor):
            trajectory = _one_sample(state_trajectories, sample, matrix_dims=3, name="state_trajectories")
        else:
            steps = list(state_trajectories)
            if not steps:
                raise ValueError("state_trajectories: empty; give at least one step of states")
            trajectory = torch.stack(
                [_one_sample(step, sample, matrix_dims=2, name="state_trajectories[t]") for step in steps]
            )
        norms = trajectory.norm(dim=-1)  # (T, S)
        figure, (lines, grid) = new_figure(1, 2, figsize=(11.0, 4.0))
        for slot in range(norms.shape[1]):
            lines.plot(norms[:, slot].numpy(), label=f"state {slot}" if norms.shape[1] <= 16 else None)
        lines.set_ylabel("L2 norm")
        time_axes(lines, f"{title}: norm per state")
        heatmap(grid, norms, f"{title}: norms", xlabel="state", ylabel="time step")
        path = save_figure(figure, self._path(save_path, "state_evolution.png"), dpi=self.dpi)
        self.written.append(path)
        return path


def _one_sample(values: Tensor, sample: int, *, matrix_dims: int, name: str) -> Tensor:
    """``values`` with ``matrix_dims`` dims, or one more (a batch) of which ``sample`` is taken;
    detached float32 on the CPU."""
    if not isinstance(values, Tensor):
        values = torch.as_tensor(values)
    if values.dim() == matrix_dims + 1:
        if not -values.shape[0] <= sample < values.shape[0]:
            raise IndexError(f"{name}: sample {sample} is out of range for a batch of {values.shape[0]}")
        values = values[sample]
    if values.dim() != matrix_dims:
        raise ValueError(
            f"{name}: expected {matrix_dims} dims, or {matrix_dims + 1} with a batch, got {tuple(values.shape)}"
        )
    return values.detach().float().cpu()
