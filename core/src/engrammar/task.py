"""The task protocol: a seeded generator of batches, a loss and a metric.

Tasks are plugins (entry-point group ``engrammar.tasks``). The trainer only ever calls what is
declared here, so any task, first-party or not, trains any model whose widths match.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor

from .spec import spec, structure

__all__ = ["Task", "TaskBatch", "TaskSpec"]


@spec
class TaskSpec:
    """Base class of task specs (no common fields)."""


@attrs.frozen
class TaskBatch:
    """One batch: ``inputs`` (B, T, in_features) float; ``targets`` (B, T, out_features) float for
    bit/regression tasks or (B, T) int64 class indices for classification tasks; ``mask`` (B, T)
    bool, true where the loss and metric count."""

    inputs: Tensor
    targets: Tensor
    mask: Tensor

    def to(self, device: torch.device | str) -> TaskBatch:
        return TaskBatch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))


class Task:
    """Base class of tasks. Subclasses set ``spec_cls``, ``metric_name`` and ``higher_is_better``
    and implement ``in_features``, ``out_features``, ``sample``, ``loss`` and ``metrics``; they
    may state ``chance_level`` and ``threshold`` (what guessing scores, what counts as solved)."""

    spec_cls: ClassVar[type[TaskSpec]] = TaskSpec
    metric_name: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, spec: TaskSpec | dict[str, Any] | None = None, **fields: Any) -> None:
        if spec is None or isinstance(spec, dict):
            spec = structure({**(spec or {}), **fields}, self.spec_cls, path=type(self).__name__)
        elif fields:
            spec = attrs.evolve(spec, **fields)  # type: ignore[misc]
        self.spec = spec

    @property
    def in_features(self) -> int:
        raise NotImplementedError

    @property
    def out_features(self) -> int:
        raise NotImplementedError

    @property
    def chance_level(self) -> float | None:
        """The expected ``metric_name`` of a model that guesses (the constant best guess where the
        targets are balanced); ``None`` when the task does not state one."""
        return None

    @property
    def threshold(self) -> float | None:
        """The ``metric_name`` value at which the task counts as solved (reached or beaten, in the
        direction of ``higher_is_better``); ``None`` when the task does not state one."""
        return None

    def solved(self, metric: float) -> bool:
        """Whether ``metric`` reaches :attr:`threshold` (never, without a threshold)."""
        if self.threshold is None or metric != metric:  # NaN never counts
            return False
        return metric >= self.threshold if self.higher_is_better else metric <= self.threshold

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        """A batch drawn with ``generator`` only (same generator state -> same batch)."""
        raise NotImplementedError

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        """Scalar training loss for model ``outputs`` (B, T, out_features): the mean over the
        positions where ``batch.mask`` is true (the trainer's truncated backpropagation weights
        each chunk's loss by its share of masked positions, which relies on this)."""
        raise NotImplementedError

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """Named metrics; always includes ``metric_name``."""
        raise NotImplementedError
