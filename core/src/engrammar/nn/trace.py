"""What a component did, step by step, for plots and debugging: the per-component accumulator of a
recording.

A component reports its trace through :func:`engrammar.report_trace` while a recording that asks
for traces is open (``engrammar.recording(model, traces=True)``); the recording keeps one
:class:`Trace` per reporting module and hands out :meth:`Trace.stacked`. A trace is deliberately not
state: the state stays exactly as declared, and nothing is kept on the module.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["Trace"]


class Trace:
    """Reported tensors, kept detached and stacked on demand into (B, T, ...) tensors."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, Tensor]] = []  # each value (B, t, ...): t steps of one report
        self.final: dict[str, Tensor] = {}
        self.steps = 0

    def __len__(self) -> int:
        """Number of time steps recorded."""
        return self.steps

    def clear(self) -> None:
        """Forget every recorded step."""
        self.chunks = []
        self.final = {}
        self.steps = 0

    def record(self, step: Mapping[str, Tensor], final: Mapping[str, Tensor] | None = None) -> None:
        """Append one step's tensors (each (B, ...)); ``final`` holds tensors kept for the latest
        step only (a DNC's link matrix: (B, H, N, N) per step would be costly to keep for all)."""
        self._append({name: tensor.detach().unsqueeze(1) for name, tensor in step.items()}, 1, final)

    def record_sequence(self, steps: Mapping[str, Tensor], final: Mapping[str, Tensor] | None = None) -> None:
        """Append several steps at once: each tensor (B, t, ...), t the same for all."""
        lengths = {tensor.shape[1] for tensor in steps.values()}
        if len(lengths) > 1:
            raise ValueError(f"a traced sequence needs one length, got {sorted(lengths)}")
        self._append({name: tensor.detach() for name, tensor in steps.items()}, lengths.pop() if lengths else 0, final)

    def _append(self, chunk: dict[str, Tensor], length: int, final: Mapping[str, Tensor] | None) -> None:
        if self.chunks and chunk.keys() != self.chunks[0].keys():
            raise ValueError(
                f"a trace reports the same names every step: {sorted(self.chunks[0])} then {sorted(chunk)}"
            )
        if chunk:
            self.chunks.append(chunk)
        self.steps += length
        if final:
            self.final = {name: tensor.detach() for name, tensor in final.items()}

    def stacked(self) -> dict[str, Tensor]:
        """Every recorded quantity as one tensor (B, T, ...), plus the ``final`` ones as they are."""
        out: dict[str, Tensor] = {}
        if self.chunks:
            out = {name: torch.cat([chunk[name] for chunk in self.chunks], dim=1) for name in self.chunks[0]}
        out.update(self.final)
        return out
