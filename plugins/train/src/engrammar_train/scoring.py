"""Evaluation: a model's task metrics on fixed batches, and ``engrammar eval`` on a checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from engrammar.component import Component
from engrammar.spec import SpecError, structure
from engrammar.task import Task, TaskBatch

__all__ = ["EVAL_SEED_OFFSET", "evaluate_batches", "evaluate_checkpoint", "evaluate_model", "to_device"]

#: Evaluation batches come from a generator seeded with ``seed + EVAL_SEED_OFFSET``, fresh at each
#: evaluation, so every evaluation of a run scores the same batches, which training never draws.
EVAL_SEED_OFFSET = 1_000_000_007


def to_device(batch: TaskBatch, device: torch.device | str, dtype: torch.dtype | None = None) -> TaskBatch:
    """The batch on ``device``, its inputs cast to ``dtype`` when given (the parameters' dtype)."""
    inputs = batch.inputs.to(device)
    if dtype is not None and torch.is_floating_point(inputs):
        inputs = inputs.to(dtype)
    return TaskBatch(inputs, batch.targets.to(device), batch.mask.to(device))


@torch.no_grad()
def evaluate_model(
    model: Component,
    task: Task,
    *,
    batches: int,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager[Any] | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """The task's metrics, averaged over ``batches`` batches drawn from ``seed + EVAL_SEED_OFFSET``,
    with the model in eval mode (its mode is restored afterwards)."""
    generator = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    try:
        for _ in range(batches):
            batch = to_device(task.sample(batch_size, generator), device, dtype)
            with autocast if autocast is not None else contextlib.nullcontext():
                y, _ = model(batch.inputs)
            for name, value in task.metrics(y.float(), batch).items():
                totals[name] = totals.get(name, 0.0) + value
    finally:
        model.train(was_training)
    return {name: value / batches for name, value in totals.items()}


@torch.no_grad()
def evaluate_batches(
    model: Component,
    task: Task,
    batches: Iterable[TaskBatch],
    *,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    dtype: torch.dtype | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """The task's metrics over given batches (the user's validation data), each batch weighted by
    its number of masked positions, so the result is the mean over every position that counts.
    ``reduce`` sums the totals over processes that each scored their own share of the data."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    weight = 0
    try:
        for batch in batches:
            count = int(batch.mask.sum())
            if count == 0:
                continue
            batch = to_device(batch, device, dtype)
            with autocast() if autocast is not None else contextlib.nullcontext():
                y, _ = model(batch.inputs)
            for name, value in task.metrics(y.float(), batch).items():
                totals[name] = totals.get(name, 0.0) + value * count
            weight += count
    finally:
        model.train(was_training)
    if reduce is not None:
        names = sorted(totals)
        summed = reduce(torch.tensor([*(totals[n] for n in names), float(weight)], dtype=torch.float64, device=device))
        totals, weight = dict(zip(names, summed[:-1].tolist())), int(summed[-1])
    if weight == 0:
        raise SpecError("val", "the validation data has no position to score (empty, or masked out)")
    return {name: value / weight for name, value in totals.items()}


def evaluate_checkpoint(
    checkpoint: str | Path,
    task: str | None = None,
    *,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    batches: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    device: str = "auto",
) -> tuple[dict[str, float], Task]:
    """Rebuild the model a checkpoint (file or run folder) describes, load its weights, and score it
    on ``task`` (default: the task it was trained on, with the same settings). ``overrides``:
    ``task.<field>=value`` settings. Returns the metrics and the task."""
    from .api import split_overrides
    from .checkpoint import load_checkpoint
    from .config import TrainConfig, migrate_config
    from .devices import resolve_device
    from .model import build_task, rebuild_model

    for name, count in (("batches", batches), ("batch_size", batch_size)):
        if count is not None and count < 1:
            raise SpecError(name, f"must be >= 1, got {count}")
    saved = load_checkpoint(checkpoint)
    model_overrides, task_overrides, config_overrides = split_overrides(overrides)
    if model_overrides:
        raise SpecError(next(iter(model_overrides)), "eval takes task.<field>=value settings only")
    config = structure(migrate_config({**(saved.get("config") or {}), **config_overrides}), TrainConfig, path="train")
    trained_on = dict(saved.get("task") or {})
    if task is None or task == trained_on.get("use"):
        if trained_on.get("use") is None:
            raise SpecError("task", "the checkpoint does not say which task it was trained on; name one")
        task_spec = trained_on
    else:
        task_spec = {"use": task}
    task_object, _ = build_task(task_spec, task_overrides)
    model = rebuild_model(saved["model_spec"])
    if model.in_features != task_object.in_features or model.out_features != task_object.out_features:
        raise SpecError(
            "task",
            f"the model maps {model.in_features} -> {model.out_features} features, "
            f"task {task_spec.get('use')!r} needs {task_object.in_features} -> {task_object.out_features}",
        )
    model.load_state_dict(saved["model"])
    target = resolve_device(device)
    model.to(target)
    metrics = evaluate_model(
        model,
        task_object,
        batches=config.eval_batches if batches is None else batches,
        batch_size=config.batch_size if batch_size is None else batch_size,
        seed=config.seed if seed is None else seed,
        device=target,
    )
    return metrics, task_object
