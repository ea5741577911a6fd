"""The monitor: which evaluation was the best so far, and whether to stop early.

After each evaluation the trainer reports the monitored metric; an evaluation *improves* when it
beats the best by more than ``min_delta`` (lower for ``min``, higher for ``max``). The best
checkpoint is written on every improvement; with ``patience``, training stops after that many
evaluations in a row without one. Its state (best value and step, evaluations since) goes into
every checkpoint, so a resumed run keeps counting where it left off.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Monitor"]


class Monitor:
    def __init__(self, metric: str, mode: str, patience: int | None = None, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be min or max, got {mode!r}")
        self.metric, self.mode, self.patience, self.min_delta = metric, mode, patience, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_step: int | None = None
        self.since_best = 0

    def update(self, metrics: dict[str, float], step: int) -> bool:
        """Record an evaluation; True when it is a new best. A NaN never improves."""
        value = metrics.get(self.metric)
        if value is None:
            known = ", ".join(sorted(metrics))
            raise KeyError(f"the monitored metric {self.metric!r} is not among the evaluation's ({known})")
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better and not math.isnan(value):
            self.best, self.best_step, self.since_best = float(value), step, 0
            return True
        self.since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.since_best >= self.patience

    def state(self) -> dict[str, Any]:
        best = self.best if math.isfinite(self.best) else None
        return {"best": best, "best_step": self.best_step, "since_best": self.since_best}

    def load_state(self, state: dict[str, Any]) -> None:
        best = state.get("best")
        self.best = (math.inf if self.mode == "min" else -math.inf) if best is None else float(best)
        self.best_step = state.get("best_step")
        self.since_best = int(state.get("since_best", 0))
