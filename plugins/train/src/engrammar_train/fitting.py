"""``fit``, ``predict`` and ``evaluate``: training on the user's own data (or on a task) from Python.

    import engrammar_train as et
    history = et.fit("lstm", (X, Y), loss="cross_entropy", epochs=20, val=0.2, hidden_size=64)
    history.model                    # the trained model (a read-out to the classes added)
    et.predict(history.model, X_test)            # (N, classes): the last step's outputs
    et.evaluate(history.model, (X_test, Y_test)) # {"loss": ..., "accuracy": ...}

``data`` is a registry task name, a task mapping or object, a DataLoader, or tensors ``(X, Y)`` /
``(X, Y, mask)`` (shapes in :mod:`engrammar_train.data`). ``model`` is a registry name, a wiring
file or mapping, or a built component. Keyword settings are fields of :class:`TrainConfig`
(``lr=3e-3``, ``patience=3``, ``devices=2``, ``precision="bf16-mixed"``, ...); the other
keywords of :func:`fit` are model fields (``hidden_size=64`` for a model given by name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from engrammar.component import Component
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, structure, unstructure
from engrammar.task import Task, TaskBatch
from torch import Tensor

from .api import resume_from, train
from .config import TrainConfig, migrate_config
from .data import DataTask, LoaderBatches, TensorBatches, as_batch, examples, split_examples
from .losses import Loss, resolve_loss
from .model import ModelSource, build_for_task
from .scoring import evaluate_batches, evaluate_model
from .trainer import Trainer

__all__ = ["History", "evaluate", "fit", "predict"]

_CONFIG_FIELDS = {a.name for a in attrs.fields(TrainConfig)}


@attrs.define
class History:
    """What :func:`fit` did. ``records``: every metrics record of the run, in order (as in
    ``metrics.jsonl``; on the first process); ``history["loss"]`` is the evaluation's loss at each
    evaluation, ``history.train("loss")`` the training loss at each logged step."""

    model: Component
    records: list[dict[str, Any]]
    final: dict[str, float]
    best: dict[str, Any] | None
    stopped_early: bool
    step: int
    out_dir: Path | None
    trainer: Trainer = attrs.field(repr=False)

    def __getitem__(self, name: str) -> list[float]:
        return [r[name] for r in self.records if r.get("split") == "eval" and name in r]

    def train(self, name: str) -> list[float]:
        return [r[name] for r in self.records if r.get("split") == "train" and name in r]

    @property
    def steps(self) -> list[int]:
        """The step of each evaluation (the x axis of ``history[name]``)."""
        return [r["step"] for r in self.records if r.get("split") == "eval"]


class _Recorder:
    """Keeps the run's metrics records for the History."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @hookimpl
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.records.append(dict(record))


def _is_loader(data: Any) -> bool:
    return isinstance(data, torch.utils.data.DataLoader)


def _is_task(data: Any) -> bool:
    return isinstance(data, (str, Task)) or (isinstance(data, Mapping) and "use" in data)


def _tensors(data: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise SpecError(
            path, f"expected a task name, a DataLoader or tensors (X, Y) / (X, Y, mask), got {type(data).__name__}"
        )
    return tuple(data)


def _first_batch(loader: Any, loss: Any, repeat: int, path: str) -> TaskBatch:
    for item in loader:
        first = as_batch(item, loss=resolve_loss(loss, _targets_of(item)), repeat=repeat, path=path)
        return first
    raise SpecError(path, "the DataLoader yields no batch (an empty dataset?)")


def _targets_of(item: Any) -> Tensor:
    if isinstance(item, TaskBatch):
        return item.targets
    if isinstance(item, Mapping):
        return torch.as_tensor(item.get("targets"))
    return torch.as_tensor(item[1]) if isinstance(item, (tuple, list)) and len(item) > 1 else torch.zeros(1)


def _out_width(loss: Loss, targets: Tensor, model: ModelSource, out_features: int | None) -> int:
    """The model's output width the targets need."""
    if out_features is not None:
        return out_features
    if not loss.classes:
        return int(targets.shape[-1])
    classes = int(targets.max()) + 1 if targets.numel() else 1
    if isinstance(model, Component):
        if model.out_features < classes:
            raise SpecError(
                "model",
                f"writes {model.out_features} outputs; {loss.name} on class indices up to {classes - 1} "
                f"needs at least {classes}",
            )
        return model.out_features
    return classes


def fit(
    model: ModelSource,
    data: Any,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    val: Any = None,
    out: str | Path | None = None,
    tricks: Iterable[Any] = (),
    loggers: Iterable[Any] = (),
    hooks: Iterable[object] = (),
    config: TrainConfig | Mapping[str, Any] | None = None,
    out_features: int | None = None,
    resume: bool = False,
    progress: bool = False,
    until: int | None = None,
    **settings: Any,
) -> History:
    """Train ``model`` on ``data`` and return a :class:`History` (``history.model`` is the trained
    model). ``loss``: ``cross_entropy`` (integer targets), ``mse`` (float targets), ``bce`` or a
    callable ``loss(outputs (N, C), targets) -> scalar``; by default chosen from the targets' dtype.
    ``val``: validation tensors or DataLoader, or a fraction of ``data`` to split off (default: the
    config's ``val_fraction``; without one, evaluations score the training data). ``out``: a run
    folder for metrics, checkpoints (``best.safetensors`` by the monitored metric) and plots.
    ``out_features``: the number of classes when a DataLoader's targets cannot be scanned.
    ``resume``: continue the run in ``out``; ``until``: stop at that step (the schedule still spans
    the run). Other keywords: :class:`TrainConfig` fields, then model fields."""
    config_fields = {k: v for k, v in settings.items() if k in _CONFIG_FIELDS}
    model_fields = {k: v for k, v in settings.items() if k not in _CONFIG_FIELDS}
    base = unstructure(config) if isinstance(config, TrainConfig) else migrate_config(dict(config or {}))
    explicit = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
    merged = {**base, **config_fields, **{k: v for k, v in explicit.items() if v is not None}}
    merged["tricks"] = [*base.get("tricks", ()), *tricks]
    merged["loggers"] = [*base.get("loggers", ()), *loggers]
    recorder = _Recorder()
    if _is_task(data):
        result = train(
            model, data, out=out, overrides=model_fields, config=merged, hooks=[*hooks, recorder],
            resume=resume, progress=progress, until=until,
        )  # fmt: skip
        trainer = result.trainer
    else:
        trainer = _data_trainer(model, data, val, loss, merged, model_fields, out, out_features, progress, hooks)
        trainer.add_extension(recorder, "history")
        resume_from(trainer, resume)
        trainer.fit(until=until)
    best = None
    if trainer.monitor.best_step is not None:
        best = {"metric": trainer.monitor.metric, "value": trainer.monitor.best, "step": trainer.monitor.best_step}
    return History(
        model=trainer.model,
        records=recorder.records,
        final=dict(trainer.last_eval),
        best=best,
        stopped_early=trainer.stopped_early,
        step=trainer.step,
        out_dir=trainer.out_dir,
        trainer=trainer,
    )


def _data_trainer(
    model: ModelSource,
    data: Any,
    val: Any,
    loss: Any,
    settings: dict[str, Any],
    model_fields: dict[str, Any],
    out: str | Path | None,
    out_features: int | None,
    progress: bool,
    hooks: Iterable[object],
) -> Trainer:
    config = structure(settings, TrainConfig, path="train")
    if isinstance(val, float):
        config = attrs.evolve(config, val_fraction=val)
        val = None
    train_batches: TensorBatches | LoaderBatches
    if _is_loader(data):
        first = _first_batch(data, loss, config.repeat, "data")
        kind = resolve_loss(loss, first.targets)
        if out_features is None and kind.classes and not isinstance(model, Component):
            raise SpecError("out_features", "give the number of classes: a DataLoader's targets are not scanned")
        if config.val_fraction is not None:
            raise SpecError("val", "a fraction can be split off tensors only; give a validation DataLoader")
        task = DataTask(kind, first.inputs.shape[-1], _out_width(kind, first.targets, model, out_features))
        train_batches = LoaderBatches(data, kind, config.repeat)
        examples_for_width = first
    else:
        x, y, *mask = _tensors(data, "data")
        kind = resolve_loss(loss, torch.as_tensor(y))
        everything = examples(x, y, mask[0] if mask else None, loss=kind, repeat=config.repeat, path="data")
        if len(everything.inputs) == 0:
            raise SpecError("data", "no samples (X and Y are empty)")
        if config.val_fraction is not None:
            if val is not None:
                raise SpecError("val", "give validation data or train.val_fraction, not both")
            everything, val = split_examples(everything, config.val_fraction, config.seed)
        task = DataTask(kind, everything.inputs.shape[-1], _out_width(kind, everything.targets, model, out_features))
        train_batches = TensorBatches(everything, config.batch_size, config.seed)
        examples_for_width = everything
    if not kind.classes and examples_for_width.targets.shape[-1] != task.out_features:
        raise SpecError(
            "data.Y",
            f"targets have {examples_for_width.targets.shape[-1]} values, out_features says {task.out_features}",
        )
    validation: TaskBatch | LoaderBatches | None = None
    if _is_loader(val):
        validation = LoaderBatches(val, kind, config.repeat)
    elif isinstance(val, TaskBatch):
        validation = val  # split off the data above
    elif val is not None:
        vx, vy, *vmask = _tensors(val, "val")
        validation = examples(vx, vy, vmask[0] if vmask else None, loss=kind, repeat=config.repeat, path="val")
        if validation.inputs.shape[-1] != task.in_features:
            raise SpecError("val.X", f"has {validation.inputs.shape[-1]} features, the data {task.in_features}")
    torch.manual_seed(config.seed)  # the parameters, then dropout, follow from the seed
    built, recipe = build_for_task(model, task, model_fields)
    trainer = Trainer(
        built,
        task,
        config,
        out_dir=out,
        hooks=hooks,
        recipe=recipe,
        task_data=task.describe(),
        progress=progress,
        data=train_batches,
        val=validation,
    )
    return trainer


def _sequences(x: Any, repeat: int) -> Tensor:
    x = torch.as_tensor(x)
    if x.dim() == 2:
        return x[:, None, :].expand(-1, repeat, -1)
    if x.dim() != 3:
        raise SpecError("X", f"expected sequences (N, T, F) or vectors (N, F), got shape {tuple(x.shape)}")
    return x


@torch.no_grad()
def predict(model: Component, X: Any, *, repeat: int = 1, batch_size: int = 256, last: bool | None = None) -> Tensor:
    """The model's outputs on ``X``, in eval mode, batch by batch. Vectors (N, F) are fed for
    ``repeat`` steps and give the last step's outputs (N, C); sequences (N, T, F) give (N, T, C),
    or the last step's with ``last=True``."""
    inputs = _sequences(X, repeat)
    last = (torch.as_tensor(X).dim() == 2) if last is None else last
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(inputs), batch_size):
            y, _ = model(inputs[start : start + batch_size].to(device=device, dtype=dtype))
            outputs.append(y[:, -1] if last else y)
    finally:
        model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def evaluate(
    model: Component,
    data: Any,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] | None = None,
    repeat: int = 1,
    batch_size: int = 256,
    batches: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """Metrics of ``model`` on ``data``: tensors or a DataLoader (with ``loss``, as in :func:`fit`:
    ``loss`` and, for classes, ``accuracy``, means over the positions that count), or a task
    (its metrics over ``batches`` evaluation batches of ``batch_size`` from ``seed``)."""
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else None
    if _is_task(data):
        from .model import build_task

        task, _ = build_task(data)
        return evaluate_model(
            model, task, batches=batches, batch_size=batch_size, seed=seed, device=device, dtype=dtype
        )
    if _is_loader(data):
        first = _first_batch(data, loss, repeat, "data")
        kind = resolve_loss(loss, first.targets)
        items: Iterable[TaskBatch] = (batch for batch, _ in LoaderBatches(data, kind, repeat).epoch(0))
    else:
        x, y, *mask = _tensors(data, "data")
        kind = resolve_loss(loss, torch.as_tensor(y))
        whole = examples(x, y, mask[0] if mask else None, loss=kind, repeat=repeat, path="data")
        first = whole
        items = [
            TaskBatch(
                whole.inputs[i : i + batch_size], whole.targets[i : i + batch_size], whole.mask[i : i + batch_size]
            )
            for i in range(0, len(whole.inputs), batch_size)
        ]
    task = DataTask(kind, first.inputs.shape[-1], model.out_features)
    if first.inputs.shape[-1] != model.in_features:
        raise SpecError("data.X", f"has {first.inputs.shape[-1]} features; the model reads {model.in_features}")
    return evaluate_batches(model, task, items, device=device, dtype=dtype)
