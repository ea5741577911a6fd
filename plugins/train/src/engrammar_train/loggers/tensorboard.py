"""``tensorboard``: the metrics records as TensorBoard scalars (``train/loss``, ``eval/accuracy``, ...)."""

from __future__ import annotations

from typing import Any

from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, field, spec

__all__ = ["TensorBoardLogger", "TensorBoardSpec"]


@spec
class TensorBoardSpec:
    folder: str = field(default="tensorboard", doc="event-file folder, inside the run folder unless absolute")


class TensorBoardLogger:
    """Writes event files with ``torch.utils.tensorboard``; ``tensorboard --logdir RUN/tensorboard``."""

    spec_cls = TensorBoardSpec

    def __init__(self, spec: TensorBoardSpec | None = None) -> None:
        self.spec = spec or TensorBoardSpec()
        self.writer: Any = None

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SpecError("tensorboard", "needs the tensorboard package: pip install tensorboard") from None
        from pathlib import Path

        folder = Path(self.spec.folder)
        if not folder.is_absolute():
            if trainer.out_dir is None:
                raise SpecError("tensorboard.folder", "a relative folder needs a run folder (out=...)")
            folder = trainer.out_dir / folder
        # purge_step drops events past a resumed checkpoint, as metrics.jsonl drops its lines.
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=trainer.step or None)

    @hookimpl
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for name, value in record.items():
            if name not in ("step", "split") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{record['split']}/{name}", value, record["step"])

    @hookimpl
    def on_train_end(self, trainer: Any) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
