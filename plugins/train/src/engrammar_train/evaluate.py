"""Evaluation: a model's task metrics on fixed batches, and ``engrammar eval`` on a checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from engrammar.component import Component
from engrammar.spec import SpecError, structure
from engrammar.task import Task

__all__ = ["EVAL_SEED_OFFSET", "evaluate_checkpoint", "evaluate_model"]

#: Evaluation batches come from a generator seeded with ``seed + EVAL_SEED_OFFSET``, fresh at each
#: evaluation, so every evaluation of a run scores the same batches, which training never draws.
EVAL_SEED_OFFSET = 1_000_000_007


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
) -> dict[str, float]:
    """The task's metrics, averaged over ``batches`` batches drawn from ``seed + EVAL_SEED_OFFSET``,
    with the model in eval mode (its mode is restored afterwards)."""
    generator = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    try:
        for _ in range(batches):
            batch = task.sample(batch_size, generator).to(device)
            with autocast if autocast is not None else contextlib.nullcontext():
                y, _ = model(batch.inputs)
            for name, value in task.metrics(y.float(), batch).items():
                totals[name] = totals.get(name, 0.0) + value
    finally:
        model.train(was_training)
    return {name: value / batches for name, value in totals.items()}


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
    from .config import TrainConfig
    from .model import build_task, rebuild_model
    from .optim import resolve_device

    for flag, count in (("--batches", batches), ("--batch-size", batch_size)):
        if count is not None and count < 1:
            raise SpecError(flag, f"must be >= 1, got {count}")
    saved = load_checkpoint(checkpoint)
    model_overrides, task_overrides, config_overrides = split_overrides(overrides)
    if model_overrides:
        raise SpecError(next(iter(model_overrides)), "eval takes task.<field>=value settings only")
    config = structure({**(saved.get("config") or {}), **config_overrides}, TrainConfig, path="train")
    trained_on = dict(saved.get("task") or {})
    if task is None or task == trained_on.get("use"):
        if trained_on.get("use") is None:
            raise SpecError("--task", "the checkpoint does not say which task it was trained on; name one")
        task_spec = trained_on
    else:
        task_spec = {"use": task}
    task_object, _ = build_task(task_spec, task_overrides)
    model = rebuild_model(saved["model_spec"])
    if model.in_features != task_object.in_features or model.out_features != task_object.out_features:
        raise SpecError(
            "--task",
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
