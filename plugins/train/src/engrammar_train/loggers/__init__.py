"""Loggers: extensions that write a run's metrics records somewhere, on the training hooks.

Each is a class with ``@hookimpl`` methods (``on_log`` above all) and an optional ``spec_cls`` for
its options, registered in the entry-point group ``engrammar.loggers``:

- ``jsonl``: ``metrics.jsonl`` in the run folder, one record per line (always on with a folder);
- ``plots``: ``loss.png``, ``<metric>.png`` and the traced components' plots at the end (always on
  with a folder);
- ``tensorboard``: event files for TensorBoard (needs the ``tensorboard`` package);
- ``mlflow``: an MLflow run with the settings as parameters and the records as metrics (needs ``mlflow``).

Loggers run on the first process only. A third-party logger is a class like these, registered
under ``engrammar.loggers`` in its own distribution, and switched on by name (``--logger NAME``).
"""

from __future__ import annotations

from .jsonl import JsonLinesLogger
from .mlflow import MLflowLogger
from .plots import PlotLogger
from .tensorboard import TensorBoardLogger

__all__ = ["JsonLinesLogger", "MLflowLogger", "PlotLogger", "TensorBoardLogger"]
