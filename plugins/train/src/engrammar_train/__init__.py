"""Training: a compact trainer over a task's generated batches, checkpoints that resume exactly,
metrics as JSON lines, and plots.

    result = engrammar_train.train("examples/demo_lstm_ema.yaml", "copy", steps=600, out="runs/demo")
    history = engrammar_train.fit("lstm", (X, Y), loss="cross_entropy", epochs=20, val=0.2)

See :func:`train` (a wiring on a task), :func:`fit`, :func:`predict` and :func:`evaluate` (the
user's own data), :class:`Trainer` (the loop, for custom use) and :class:`TrainConfig` (every
setting). ``engrammar train`` and ``engrammar eval`` are the command-line forms.

Attributes are loaded lazily: the ``engrammar`` command imports this package to find its
subcommands, and must not pay for torch until one of them runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "History": "fitting",
    "evaluate": "fitting",
    "fit": "fitting",
    "predict": "fitting",
    "CHECKPOINT_NAME": "checkpoint",
    "TrainConfig": "config",
    "TrainResult": "api",
    "Trainer": "trainer",
    "build_for_task": "model",
    "build_task": "model",
    "evaluate_checkpoint": "scoring",
    "load_checkpoint": "checkpoint",
    "rebuild_model": "model",
    "save_checkpoint": "checkpoint",
    "train": "api",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engrammar_train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .api import TrainResult, train
    from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
    from .config import TrainConfig
    from .fitting import History, evaluate, fit, predict
    from .model import build_for_task, build_task, rebuild_model
    from .scoring import evaluate_checkpoint
    from .trainer import Trainer
