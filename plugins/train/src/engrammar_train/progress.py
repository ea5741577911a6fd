"""The progress bar: steps done, time left, live loss and metric (rich, on stderr)."""

from __future__ import annotations

from typing import Any

__all__ = ["ProgressBar"]


class ProgressBar:
    """A rich progress bar, or nothing when ``enabled`` is false. Use as a context manager."""

    def __init__(self, total: int, completed: int, enabled: bool = True, description: str = "train") -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self.total, self.completed, self.description = total, completed, description

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.completed, info="")
        return self

    def update(self, completed: int, info: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, info=info)

    def log(self, message: str) -> None:
        """A line above the bar (kept in logs when the output is not a terminal)."""
        if self._progress is not None:
            self._progress.console.print(message, highlight=False)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
