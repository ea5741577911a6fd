"""``jsonl``: the metrics records as JSON lines in ``metrics.jsonl`` (see :mod:`engrammar_train.metrics`)."""

from __future__ import annotations

from typing import Any

from engrammar.hooks import hookimpl

from ..metrics import METRICS_NAME, MetricsLog

__all__ = ["JsonLinesLogger"]


class JsonLinesLogger:
    """Appends every record to ``metrics.jsonl`` in the run folder. A run starting from step 0
    starts the file afresh; a resumed run drops the lines written after its checkpoint."""

    def __init__(self) -> None:
        self.log: MetricsLog | None = None

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        if trainer.out_dir is None:
            return
        self.log = MetricsLog(trainer.out_dir / METRICS_NAME)
        if trainer.step == 0:
            self.log.path.unlink(missing_ok=True)
        else:
            self.log.truncate_after(trainer.step)

    @hookimpl
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)
