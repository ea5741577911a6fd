"""``plots``: at the end of a run, ``loss.png`` and ``<metric>.png`` from ``metrics.jsonl``,
``components.png`` (the metrics the components reported, when there are some), and the plots of
every traced component of the model (``trace/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engrammar.hooks import hookimpl

from ..metrics import METRICS_NAME, read_metrics

__all__ = ["PlotLogger"]


class PlotLogger:
    def __init__(self) -> None:
        self.written: list[Path] = []

    @hookimpl
    def on_train_end(self, trainer: Any) -> None:
        if trainer.out_dir is None:
            return
        from ..plots import plot_components, plot_metrics

        metrics_file = trainer.out_dir / METRICS_NAME
        if metrics_file.is_file():
            title = (trainer.task_data or {}).get("use") or type(trainer.task).__name__
            records = read_metrics(metrics_file)
            self.written = plot_metrics(records, trainer.out_dir, trainer.task.metric_name, title)
            components = plot_components(records, trainer.out_dir, title)
            if components is not None:
                self.written.append(components)
        self.written += trainer.plot_traces()
