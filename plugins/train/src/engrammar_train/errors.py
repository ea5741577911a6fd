"""Errors a training run stops with: one line each, and nothing lost (the command line prints them
as ``error: ...`` and exits 2, like bad input)."""

from __future__ import annotations

__all__ = ["CheckpointWriteError", "NonFiniteLossError", "TrainingError"]


class TrainingError(RuntimeError):
    """A run stopped; ``str(error)`` says why and what was kept."""

    user_error = True  # the engrammar command prints one line, no traceback


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the step was not applied."""


class CheckpointWriteError(TrainingError):
    """A checkpoint could not be written (a full disk, say); the previous one is intact."""
