"""A recording of what the memory did, step by step, for plots and debugging.

With ``trace=True`` a component keeps a :class:`Trace` on its ``last_trace`` attribute: a debugging
side channel, deliberately *not* state (the state stays exactly as declared, so tracing changes
no result and no other component sees it). Every step appends detached copies of what it chooses to record
(a DNC: its weightings, usage and gates); ``init_state`` (which every fresh run calls, including ``forward(x)`` with no
state) starts a new recording, so after ``y, _ = comp(x)`` the trace covers exactly that call, and
after a step-by-step run it covers every step since the last initial state. With ``trace=False``
there is no trace object and the only cost is one boolean test per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Trace"]


class Trace:
    """Per-step records, stacked on demand into (B, T, ...) tensors."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Tensor]] = []
        self.final: dict[str, Tensor] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def clear(self) -> None:
        """Forget every recorded step."""
        self.steps = []
        self.final = {}

    def record(self, step: dict[str, Tensor], final: dict[str, Tensor] | None = None) -> None:
        """Append one step's tensors (each (B, ...)); ``final`` holds tensors kept for the latest
        step only (a DNC's link matrix: (B, H, N, N) per step would be costly to keep for all)."""
        self.steps.append({name: tensor.detach() for name, tensor in step.items()})
        if final:
            self.final = {name: tensor.detach() for name, tensor in final.items()}

    def stacked(self) -> dict[str, Tensor]:
        """Every recorded quantity as one tensor (B, T, ...), plus the ``final`` ones as they are."""
        if not self.steps:
            return dict(self.final)
        names = self.steps[0].keys()
        out = {name: torch.stack([step[name] for step in self.steps], dim=1) for name in names}
        out.update(self.final)
        return out
