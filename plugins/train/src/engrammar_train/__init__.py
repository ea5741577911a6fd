"""Training: a compact trainer over a task's generated batches, checkpoints that resume exactly,
metrics as JSON lines, and plots.

    result = engrammar.train("examples/demo_lstm_ema.yaml", "copy", steps=600, out="runs/demo")

See :func:`train` (one call), :class:`Trainer` (the loop, for custom use) and :class:`TrainConfig`
(every setting). ``engrammar train`` and ``engrammar eval`` are the command-line forms.
"""

from __future__ import annotations

from .api import TrainResult, train
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .evaluate import evaluate_checkpoint
from .model import build_for_task, build_task, rebuild_model
from .trainer import Trainer

__all__ = [
    "CHECKPOINT_NAME",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_for_task",
    "build_task",
    "evaluate_checkpoint",
    "load_checkpoint",
    "rebuild_model",
    "save_checkpoint",
    "train",
]
