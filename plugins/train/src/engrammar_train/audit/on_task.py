"""``audit_task``: the full audit of a wiring (or a component by name) on a registry task, as
``engrammar audit`` runs it: the model built for the task as ``engrammar train`` builds it, the
task's own loss, and a data loader over the task's generated batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from engrammar.spec import SpecError
from engrammar.task import Task, TaskBatch

from .full import FullAudit, run_full_audit

__all__ = ["TaskBatches", "audit_task"]


class TaskBatches(torch.utils.data.IterableDataset):
    """``count`` batches of ``batch_size`` sequences sampled from ``task`` with a seeded generator."""

    def __init__(self, task: Task, batch_size: int, count: int, seed: int) -> None:
        super().__init__()
        self.task, self.batch_size, self.count, self.seed = task, batch_size, count, seed

    def __iter__(self) -> Iterator[TaskBatch]:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.count):
            yield self.task.sample(self.batch_size, generator)


def audit_task(
    model: Any,
    task: str | Mapping[str, Any] | Task,
    *,
    batch_size: int = 32,
    batches: int = 20,
    seed: int = 0,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    device: str = "auto",
    quiet: bool = False,
) -> FullAudit:
    """Audit ``model`` (a wiring file, a registry name or a spec mapping) on ``task``.
    ``overrides``: ``key=value`` settings, ``task.<field>`` for the task, any other for the model.
    ``batches``: loader batches timed. Prints the report unless ``quiet``."""
    from ..api import split_overrides
    from ..devices import resolve_device
    from ..model import build_for_task, build_task

    for name, value in (("batch_size", batch_size), ("batches", batches)):
        if value < 1:
            raise SpecError(name, f"must be >= 1, got {value}")
    model_overrides, task_overrides, train_overrides = split_overrides(overrides)
    if train_overrides:
        raise SpecError(
            f"train.{next(iter(train_overrides))}", "an audit does not train; give model or task.<field> settings"
        )
    task_object, _ = build_task(task, task_overrides)
    torch.manual_seed(seed)
    built, _ = build_for_task(model, task_object, model_overrides)
    loader = torch.utils.data.DataLoader(
        TaskBatches(task_object, batch_size, batches + 1, seed), batch_size=None, num_workers=0
    )
    return run_full_audit(
        built,
        loader,
        resolve_device(device),
        loss_fn=lambda output, batch: task_object.loss(output, batch),
        n_batches=batches,
        quiet=quiet,
    )
