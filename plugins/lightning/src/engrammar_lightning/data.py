"""``EngrammarDataModule``: a Lightning DataModule for a registry task or the user's tensors.

    EngrammarDataModule("antipodal", T=500, p_switch=0.05, train_size=1024, batch_size=32)
    EngrammarDataModule.from_tensors(X, Y, loss="cross_entropy", val=0.2, batch_size=64)

A task's sequences are drawn once, at set-up, from its seeded generator: ``train_size`` training
sequences from ``seed`` and ``val_size`` validation sequences from another stream of the same seed
(every process draws the same ones; Lightning's distributed sampler gives each process its share).
So the data is a fixed set, as in the seed's scripts, and a Lightning Trainer's
``limit_train_batches=0.1`` trains on a tenth of it. The user's tensors are checked and laid out
as ``engrammar-train`` does (:func:`engrammar_train.data.examples`: sequences (N, T, F) or vectors
(N, F); targets per sequence or per step; an optional mask).

Batches are tuples ``(inputs (B, T, F), targets (B, T) or (B, T, C), mask (B, T))``; ``task`` is
what :class:`EngrammarModule` trains on (``EngrammarModule(model, datamodule)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from engrammar.spec import SpecError
from engrammar.task import Task, TaskBatch
from engrammar_train.data import DataTask, examples, split_examples
from engrammar_train.losses import resolve_loss
from engrammar_train.model import build_task
from engrammar_train.scoring import EVAL_SEED_OFFSET
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset

__all__ = ["EngrammarDataModule", "EpochShuffle"]

#: sequences drawn per call of the task's generator at set-up (bounds the memory of one draw)
_DRAW = 256


class EpochShuffle(Sampler[int]):
    """Indices in an order drawn from (seed, epoch) alone: Lightning sets the epoch before each
    one, so a run resumed from a checkpoint shuffles its later epochs as an uninterrupted run."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


def _draw(task: Task, count: int, seed: int) -> TaskBatch:
    generator = torch.Generator().manual_seed(seed)
    parts = [task.sample(min(_DRAW, count - start), generator) for start in range(0, count, _DRAW)]
    return TaskBatch(*(torch.cat([getattr(p, name) for p in parts]) for name in ("inputs", "targets", "mask")))


class EngrammarDataModule(pl.LightningDataModule):
    """Training and validation batches of a registry task (name, mapping or object; further
    keywords are its fields: ``T=500``).

    ``train_size`` / ``val_size``: sequences drawn for training and validation; ``batch_size``:
    sequences per batch (per process); ``seed``: the draws and the shuffling; ``num_workers``:
    DataLoader workers.
    """

    def __init__(
        self,
        task: str | Mapping[str, Any] | Task = "antipodal",
        *,
        train_size: int = 1024,
        val_size: int = 256,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 0,
        **task_fields: Any,
    ) -> None:
        super().__init__()
        for name, value, least in (
            ("train_size", train_size, 1),
            ("val_size", val_size, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise SpecError(f"data.{name}", f"must be an integer >= {least}, got {value!r}")
        self.task, self.task_data = build_task(task, task_fields) if task is not None else (None, {})
        self.train_size, self.val_size, self.batch_size = train_size, val_size, batch_size
        self.seed, self.num_workers = seed, num_workers
        self.train_data: TaskBatch | None = None
        self.val_data: TaskBatch | None = None

    @classmethod
    def from_tensors(
        cls,
        X: Any,
        Y: Any,
        mask: Any = None,
        *,
        loss: str | Callable[[Tensor, Tensor], Tensor] | None = None,
        val: float | tuple[Any, ...] | None = None,
        batch_size: int = 32,
        repeat: int = 1,
        seed: int = 0,
        out_features: int | None = None,
        num_workers: int = 0,
    ) -> EngrammarDataModule:
        """The user's tensors (shapes in :mod:`engrammar_train.data`). ``loss``: ``cross_entropy``
        (integer targets), ``mse`` (float targets), ``bce`` or a callable; by default from the
        targets' dtype. ``val``: a fraction of the samples to hold out, or validation tensors
        ``(X, Y[, mask])``; without it the training data is also the validation data.
        ``out_features``: the number of classes (default: the largest class index + 1)."""
        kind = resolve_loss(loss, torch.as_tensor(Y))
        everything = examples(X, Y, mask, loss=kind, repeat=repeat, path="data")
        if len(everything.inputs) == 0:
            raise SpecError("data", "no samples (X and Y are empty)")
        if isinstance(val, float):
            train, validation = split_examples(everything, val, seed)
        elif val is None:
            train, validation = everything, everything
        else:
            if not isinstance(val, (tuple, list)) or len(val) not in (2, 3):
                raise SpecError("val", f"expected a fraction or tensors (X, Y[, mask]), got {type(val).__name__}")
            train = everything
            validation = examples(*val, loss=kind, repeat=repeat, path="val")
        if kind.classes:
            classes = int(everything.targets.max()) + 1 if everything.targets.numel() else 1
            width = out_features if out_features is not None else classes
            if width < classes:
                raise SpecError("out_features", f"{width} classes, but the targets hold class {classes - 1}")
        else:
            width = int(everything.targets.shape[-1])
        module = cls(None, train_size=len(train.inputs), val_size=len(validation.inputs), batch_size=batch_size,
                     seed=seed, num_workers=num_workers)  # fmt: skip
        module.task = DataTask(kind, int(everything.inputs.shape[-1]), width)
        module.task_data = module.task.describe()
        module.train_data, module.val_data = train, validation
        return module

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            self.train_data = _draw(self.task, self.train_size, self.seed)
        if self.val_data is None:
            self.val_data = _draw(self.task, self.val_size, self.seed + EVAL_SEED_OFFSET)

    def _loader(self, data: TaskBatch | None, shuffle: bool) -> DataLoader:
        if data is None:
            raise RuntimeError("EngrammarDataModule: setup() has not run")
        dataset = TensorDataset(data.inputs, data.targets, data.mask)
        sampler = EpochShuffle(len(dataset), self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_data, shuffle=False)
