"""``engrammar.train``: one call from a wiring (or a component name) and a task name to a trained,
checkpointed model with its metrics and plots — what ``engrammar train`` runs.

    result = engrammar_train.train("examples/demo_lstm_ema.yaml", "copy", steps=600, out="runs/demo",
                             overrides=["nodes.ctrl.hidden_size=64", "task.max_length=5", "train.lr=3e-3"])
    print(result.metric_name, result.metric)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from engrammar.component import Component
from engrammar.spec import SpecError, structure, unstructure
from engrammar.task import Task

from .checkpoint import CHECKPOINT_NAME, load_checkpoint
from .config import TrainConfig, migrate_config
from .model import ModelSource, build_for_task, build_task
from .trainer import Trainer

__all__ = ["TrainResult", "resume_from", "split_overrides", "train"]

#: Prefixes of ``--set`` keys that go to the task's spec and to the trainer's config; any other key
#: goes to the model (a dotted path into a wiring, or a field of a component built by name).
TASK_PREFIX, TRAIN_PREFIX = "task.", "train."
GROUPS_PREFIX = "train.param_groups."


@attrs.frozen
class TrainResult:
    """What a run produced. ``metric`` is the task's metric in the final evaluation."""

    metric_name: str
    metric: float
    metrics: dict[str, float]
    step: int
    out_dir: Path | None
    checkpoint: Path | None
    plots: list[Path]
    trainer: Trainer = attrs.field(repr=False)

    @property
    def model(self) -> Component:
        return self.trainer.model  # type: ignore[return-value]


def split_overrides(
    overrides: Mapping[str, Any] | Iterable[str],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``key=value`` settings split into (model, task, train) dicts by their prefix."""
    from engrammar.wiring.loader import parse_assignment

    items = overrides.items() if isinstance(overrides, Mapping) else (parse_assignment(o) for o in overrides)
    items = ((key, _number(value)) for key, value in items)
    model: dict[str, Any] = {}
    task: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for key, value in items:
        if key.startswith(TASK_PREFIX):
            task[key[len(TASK_PREFIX) :]] = value
        elif key.startswith(GROUPS_PREFIX):
            # train.param_groups.<module path>.<field>: the path itself holds dots
            path, _, name = key[len(GROUPS_PREFIX) :].rpartition(".")
            if not path:
                raise SpecError(key, "expected train.param_groups.<module path>.<field>=VALUE")
            config.setdefault("param_groups", {}).setdefault(path, {})[name] = value
        elif key.startswith(TRAIN_PREFIX):
            config[key[len(TRAIN_PREFIX) :]] = value
        else:
            model[key] = value
    return model, task, config


def _merged_groups(base: Any, overrides: Any) -> Any:
    """``train.param_groups`` of a settings file with the command line's added path by path."""
    if not isinstance(base, Mapping) or not isinstance(overrides, Mapping):
        return overrides if overrides is not None else (base if base is not None else {})
    merged = {path: dict(fields) if isinstance(fields, Mapping) else fields for path, fields in base.items()}
    for path, fields in overrides.items():
        if isinstance(merged.get(path), dict) and isinstance(fields, Mapping):
            merged[path].update(fields)
        else:
            merged[path] = fields
    return merged


def _number(value: Any) -> Any:
    # YAML 1.1 reads "3e-3" as a string (it wants "3.0e-3"); on a command line it is a number.
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def train(
    model: ModelSource,
    task: str | Mapping[str, Any] | Task,
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    config: TrainConfig | Mapping[str, Any] | None = None,
    hooks: Iterable[object] = (),
    tricks: Iterable[Any] = (),
    loggers: Iterable[Any] = (),
    resume: bool = False,
    progress: bool = True,
    until: int | None = None,
) -> TrainResult:
    """Train ``model`` (a wiring file, a registry name, a spec mapping or a built component) on
    ``task`` (a task name, ``{"use": name, **fields}`` or a task object).

    ``overrides``: ``key=value`` strings (or a mapping): ``task.<field>`` sets the task's spec,
    ``train.<field>`` the :class:`TrainConfig`, any other key the model. ``steps``, ``batch_size``
    and ``seed`` win over both; ``tricks`` and ``loggers`` are added to the config's. With
    ``out``, the folder gets ``metrics.jsonl``, ``spec.json``, ``checkpoint.safetensors`` (and
    ``best.safetensors``) and the plots; ``resume=True`` continues the run found there, on any
    number of processes. ``until`` stops early at that step (the schedule still spans the run).
    """
    model_overrides, task_overrides, config_overrides = split_overrides(overrides)
    base = unstructure(config) if isinstance(config, TrainConfig) else dict(config or {})
    explicit = {k: v for k, v in {"steps": steps, "batch_size": batch_size, "seed": seed}.items() if v is not None}
    merged = migrate_config({**base, **config_overrides, **explicit})
    merged["param_groups"] = _merged_groups(base.get("param_groups"), config_overrides.get("param_groups"))
    merged["tricks"] = [*merged.get("tricks", ()), *tricks]
    merged["loggers"] = [*merged.get("loggers", ()), *loggers]
    train_config = structure(merged, TrainConfig, path="train")

    task_object, task_data = build_task(task, task_overrides)
    torch.manual_seed(train_config.seed)  # the parameters, then dropout, follow from the seed
    built, recipe = build_for_task(model, task_object, model_overrides)
    out_dir = Path(out) if out is not None else None
    trainer = Trainer(
        built,
        task_object,
        train_config,
        out_dir=out_dir,
        hooks=hooks,
        recipe=recipe,
        task_data=task_data,
        progress=progress,
    )
    resume_from(trainer, resume)
    metrics = trainer.fit(until=until)
    name = task_object.metric_name
    return TrainResult(
        metric_name=name,
        metric=float(metrics.get(name, float("nan"))),
        metrics=metrics,
        step=trainer.step,
        out_dir=out_dir,
        checkpoint=(out_dir / CHECKPOINT_NAME) if out_dir is not None else None,
        plots=trainer.plots,
        trainer=trainer,
    )


def resume_from(trainer: Trainer, resume: bool) -> None:
    """With ``resume``, restore the checkpoint in the trainer's folder (when there is one) after
    checking that it belongs to the same run."""
    if not resume or trainer.out_dir is None:
        return
    path = trainer.out_dir / CHECKPOINT_NAME
    if path.is_file():
        checkpoint = load_checkpoint(path)
        _check_resumable(checkpoint, trainer)
        trainer.restore(checkpoint)
        trainer.last_checkpoint = (path, trainer.step)


def _check_resumable(checkpoint: Mapping[str, Any], trainer: Trainer) -> None:
    # A model grown during training (neurogenesis) is compared as it was built.
    if checkpoint.get("initial_model_spec", checkpoint.get("model_spec")) != trainer.initial_recipe:
        raise SpecError("resume", "the checkpoint there was trained with another model; choose another output folder")
    if checkpoint.get("task") != trainer.task_data:
        raise SpecError("resume", "the checkpoint there was trained on another task (or task settings)")
    saved = migrate_config(checkpoint.get("config") or {})
    saved_total = checkpoint.get("total_steps", saved.get("steps"))
    if trainer.config.schedule != "constant" and saved_total != trainer.total_steps:
        raise SpecError(
            "resume",
            f"a {trainer.config.schedule} schedule spans the run's {saved_total} steps: resume with the same length",
        )
    if int(checkpoint["step"]) > trainer.total_steps:
        raise SpecError(
            "resume", f"the checkpoint is at step {checkpoint['step']}, past the run's {trainer.total_steps} steps"
        )
