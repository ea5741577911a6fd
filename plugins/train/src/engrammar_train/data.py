"""The user's own data as batches of a task: tensors ``(X, Y[, mask])`` or a DataLoader.

Shapes (N samples, T time steps, F input features, C outputs):

- inputs ``X``: sequences (N, T, F), or vectors (N, F) fed as a sequence of ``repeat`` steps (the
  same vector each step; ``repeat=1`` feeds it once);
- targets ``Y``, per sequence: class indices (N,) or values (N, C) (or (N,) for one output), scored
  on the last time step, after the model has seen the whole input; per step: class indices (N, T) or
  values (N, T, C);
- ``mask`` (optional, bool): (N, T) for per-step targets, (N,) for per-sequence ones; true where
  the loss counts.

:func:`examples` checks and converts them into one :class:`~engrammar.task.TaskBatch` (inputs
(N, T, F), targets (N, T) or (N, T, C), mask (N, T)); :class:`DataTask` is the task that scores it
with a loss from :mod:`engrammar_train.losses`. Errors name what is wrong (``data.Y: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from engrammar.spec import SpecError
from engrammar.task import Task, TaskBatch, TaskSpec
from torch import Tensor

from .losses import Loss

__all__ = [
    "DataTask",
    "GeneratedBatches",
    "LoaderBatches",
    "TensorBatches",
    "as_batch",
    "examples",
    "split_examples",
]


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def examples(
    inputs: Any, targets: Any, mask: Any = None, *, loss: Loss, repeat: int = 1, path: str = "data"
) -> TaskBatch:
    """Check user tensors and bring them to the task layout (see the module docstring)."""
    x = torch.as_tensor(inputs)
    y = torch.as_tensor(targets)
    if len(x) != len(y):
        raise SpecError(path, f"X has {len(x)} samples and Y has {len(y)}: their first dimensions must match")
    if x.dim() == 2:
        x = x[:, None, :].expand(-1, repeat, -1)
    elif x.dim() != 3:
        raise SpecError(f"{path}.X", f"expected sequences (N, T, F) or vectors (N, F), got shape {_shape(x)}")
    if not torch.is_floating_point(x):
        x = x.float()
    steps = x.shape[1]
    if loss.classes:
        if torch.is_floating_point(y) or y.dtype == torch.bool:
            raise SpecError(
                f"{path}.Y",
                f"{loss.name} needs integer class indices (N,) or (N, T), got {y.dtype} of shape {_shape(y)}",
            )
        if y.dim() not in (1, 2):
            raise SpecError(f"{path}.Y", f"class indices must be (N,) or (N, T), got shape {_shape(y)}")
        if y.numel() and int(y.min()) < 0:
            raise SpecError(f"{path}.Y", f"class indices must be >= 0, got {int(y.min())}")
        y = y.long()
        per_step = y.dim() == 2
    else:
        if not torch.is_floating_point(y):
            if loss.name in ("bce", "mse"):
                raise SpecError(
                    f"{path}.Y",
                    f"{loss.name} needs float targets (N, C) or (N, T, C), got {y.dtype} (class indices: "
                    "use loss='cross_entropy')",
                )
            y = y.float()
        if y.dim() == 1:
            y = y[:, None]
        if y.dim() not in (2, 3):
            raise SpecError(f"{path}.Y", f"targets must be (N, C) or (N, T, C), got shape {_shape(y)}")
        per_step = y.dim() == 3
    if per_step and y.shape[1] != steps:
        raise SpecError(f"{path}.Y", f"per-step targets have {y.shape[1]} steps, the inputs {steps}")
    counted = _mask(mask, len(x), steps, per_step, path)
    if not per_step:
        # Per-sequence targets are scored on the last step only.
        y = y[:, None].expand(len(y), steps, *y.shape[1:])
        last = torch.zeros(len(x), steps, dtype=torch.bool)
        last[:, -1] = True
        counted = last & counted[:, -1:]
    return TaskBatch(x, y, counted)


def _mask(mask: Any, samples: int, steps: int, per_step: bool, path: str) -> Tensor:
    if mask is None:
        return torch.ones(samples, steps, dtype=torch.bool)
    m = torch.as_tensor(mask)
    if m.dtype != torch.bool:
        raise SpecError(f"{path}.mask", f"expected a bool tensor, got {m.dtype}")
    if per_step and tuple(m.shape) != (samples, steps):
        raise SpecError(f"{path}.mask", f"per-step targets need a mask of shape ({samples}, {steps}), got {_shape(m)}")
    if not per_step and tuple(m.shape) != (samples,):
        raise SpecError(f"{path}.mask", f"per-sequence targets need a mask of shape ({samples},), got {_shape(m)}")
    return m[:, None].expand(samples, steps) if not per_step else m


def split_examples(batch: TaskBatch, fraction: float, seed: int) -> tuple[TaskBatch, TaskBatch]:
    """(train, validation): a seeded random ``fraction`` of the samples goes to validation."""
    samples = len(batch.inputs)
    held = round(fraction * samples)
    if held < 1 or held >= samples:
        raise SpecError("train.val_fraction", f"{fraction} of {samples} samples leaves an empty split")
    order = torch.randperm(samples, generator=torch.Generator().manual_seed(seed))
    train, val = order[held:].sort().values, order[:held].sort().values
    return _take(batch, train), _take(batch, val)


def _take(batch: TaskBatch, index: Tensor) -> TaskBatch:
    return TaskBatch(batch.inputs[index], batch.targets[index], batch.mask[index])


def as_batch(item: Any, *, loss: Loss, repeat: int, path: str = "data") -> TaskBatch:
    """One DataLoader item — ``(x, y)``, ``(x, y, mask)``, a mapping with ``inputs``/``targets``
    (and ``mask``) or a TaskBatch — in the task layout."""
    if isinstance(item, TaskBatch):
        return item
    if isinstance(item, Mapping):
        missing = [k for k in ("inputs", "targets") if k not in item]
        if missing:
            raise SpecError(path, f"a batch mapping needs the keys inputs and targets (missing: {', '.join(missing)})")
        return examples(item["inputs"], item["targets"], item.get("mask"), loss=loss, repeat=repeat, path=path)
    if isinstance(item, (list, tuple)) and len(item) in (2, 3):
        return examples(*item, loss=loss, repeat=repeat, path=path)
    raise SpecError(path, f"a DataLoader batch must be (x, y), (x, y, mask) or a mapping, got {type(item).__name__}")


class DataTask(Task):
    """The task of the user's data: its widths, and a loss with its metrics over the masked positions."""

    spec_cls = TaskSpec

    def __init__(self, loss: Loss, in_features: int, out_features: int) -> None:
        super().__init__()
        self.loss_kind, self._in, self._out = loss, in_features, out_features
        self.metric_name = loss.metric_name  # type: ignore[misc]
        self.higher_is_better = loss.higher_is_better  # type: ignore[misc]

    @property
    def in_features(self) -> int:
        return self._in

    @property
    def out_features(self) -> int:
        return self._out

    def describe(self) -> dict[str, Any]:
        """The task as plain data (saved in checkpoints)."""
        return {"use": None, "loss": self.loss_kind.name, "in_features": self._in, "out_features": self._out}

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        raise NotImplementedError("the user's data is not generated: it is read in batches")

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        if not bool(batch.mask.any()):
            return outputs.sum() * 0.0
        return self.loss_kind.function(outputs[batch.mask], batch.targets[batch.mask])

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        if not bool(batch.mask.any()):
            return {"loss": math.nan, **({"accuracy": math.nan} if self.metric_name == "accuracy" else {})}
        return self.loss_kind.metrics(outputs[batch.mask], batch.targets[batch.mask])


# ---- sources of training batches ---------------------------------------------------------------
# Each yields this process's share of every global batch. Every process sees the same global batches
# (drawn or shuffled from the same seeds) and takes its slice, so training on W processes equals
# training on one with the same global batch, and a run resumes on any number of processes.


class GeneratedBatches:
    """A task's generated batches: every process draws the global batch from one seeded generator."""

    def __init__(self, task: Task, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.task, self.batch_size, self.rank, self.world_size = task, batch_size, rank, world_size
        self.generator = torch.Generator().manual_seed(seed)

    def batches(self, count: int) -> Iterator[tuple[TaskBatch, int]]:
        """``count`` batches: (this process's share, the global number of masked positions)."""
        for _ in range(count):
            batch = self.task.sample(self.batch_size, self.generator)
            yield _share(batch, self.rank, self.world_size), int(batch.mask.sum())

    def state(self) -> Tensor:
        return self.generator.get_state()

    def load_state(self, state: Tensor) -> None:
        self.generator.set_state(state.cpu())


class TensorBatches:
    """Batches of tensors in an order reshuffled every epoch from (seed, epoch) alone."""

    def __init__(self, data: TaskBatch, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.data, self.batch_size, self.seed, self.rank, self.world_size = data, batch_size, seed, rank, world_size

    def __len__(self) -> int:
        return math.ceil(len(self.data.inputs) / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[TaskBatch, int | None]]:
        order = torch.randperm(len(self.data.inputs), generator=torch.Generator().manual_seed(self.seed + epoch))
        for index in range(start, len(self)):
            chosen = order[index * self.batch_size : (index + 1) * self.batch_size]
            batch = _take(self.data, chosen)
            yield _share(batch, self.rank, self.world_size), int(batch.mask.sum())


class LoaderBatches:
    """A DataLoader's batches (each process reads its own share, through Fabric's sampler)."""

    def __init__(self, loader: Any, loss: Loss, repeat: int) -> None:
        self.loader, self.loss, self.repeat = loader, loss, repeat

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[TaskBatch, int | None]]:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        for index, item in enumerate(self.loader):
            if index >= start:
                yield as_batch(item, loss=self.loss, repeat=self.repeat), None  # None: count across processes


def _share(batch: TaskBatch, rank: int, world_size: int) -> TaskBatch:
    if world_size == 1:
        return batch
    index = torch.tensor_split(torch.arange(len(batch.inputs)), world_size)[rank]
    return _take(batch, index)
