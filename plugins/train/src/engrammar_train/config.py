"""``TrainConfig``: everything about a training run except the model and the data, as a spec (so it
is validated with named errors, set from the command line with ``--set train.lr=3e-4``, and saved
in every checkpoint as JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engrammar.spec import between, field, ge, gt, one_of, optional, spec

from .param_groups import ParamGroupSpec

__all__ = [
    "MONITOR_MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "STRATEGIES",
    "TrainConfig",
    "migrate_config",
]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("constant", "warmup", "cosine", "onecycle", "step")
#: Lightning Fabric's precision names; "32" and "64" are short for "32-true" and "64-true".
PRECISIONS = ("32-true", "32", "64-true", "64", "bf16-mixed", "16-mixed", "bf16-true", "16-true")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "fsdp")
MONITOR_MODES = ("auto", "min", "max")
#: The precision names of the first release, still read from old checkpoints and settings.
_OLD_PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def _entries(value: Any) -> tuple[Any, ...]:
    # A single trick or logger may be written without a list.
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


@spec
class TrainConfig:
    """How to train: length, batches, optimizer, schedule, clipping, devices, precision, truncation,
    validation, early stopping, tricks and loggers."""

    steps: int | None = field(
        default=None, validator=optional(ge(1)), doc="optimizer steps in the whole run (default: 1000 on a task)"
    )
    epochs: int | None = field(
        default=None,
        validator=optional(ge(1)),
        doc="passes over the data (default: 10 on data); on a task, an epoch is `eval_every` steps",
    )
    batch_size: int = field(default=32, validator=ge(1), doc="sequences per optimizer step, over all processes")
    accumulate: int = field(default=1, validator=ge(1), doc="batches whose gradients make one optimizer step")
    seed: int = field(default=0, validator=ge(0), doc="seeds the parameters, the data and dropout")
    optimizer: str = field(default="adamw", validator=one_of(*OPTIMIZERS), doc="adamw, adam or sgd (with momentum)")
    lr: float = field(default=1e-3, validator=gt(0.0), doc="learning rate (the peak of a schedule)")
    weight_decay: float = field(default=0.01, validator=ge(0.0), doc="decoupled for adamw, L2 for adam and sgd")
    betas: tuple[float, float] = field(default=(0.9, 0.999), doc="Adam's moment decays")
    momentum: float = field(default=0.9, validator=between(0.0, 1.0), doc="sgd momentum")
    schedule: str = field(
        default="constant",
        validator=one_of(*SCHEDULES),
        doc="learning rate over the run: constant, warmup (linear, then constant), cosine, onecycle, step",
    )
    warmup_fraction: float = field(
        default=0.25,
        validator=between(0.0, 1.0, inclusive=False),
        doc="warmup and onecycle: fraction of the steps spent warming up (cosine: 0 unless warmup_steps)",
    )
    warmup_steps: int | None = field(
        default=None, validator=optional(ge(0)), doc="warmup, cosine, onecycle: warm-up steps (wins over the fraction)"
    )
    min_lr: float = field(default=0.0, validator=ge(0.0), doc="cosine: the rate at the end of the run")
    step_size: int = field(default=100, validator=ge(1), doc="step: optimizer steps between decays")
    gamma: float = field(default=0.5, validator=between(0.0, 1.0), doc="step: factor of each decay")
    grad_clip: float = field(
        default=1.0, validator=ge(0.0), doc="clip the global gradient norm to this; 0: no clipping"
    )
    tbptt: int | None = field(
        default=None,
        validator=optional(ge(1)),
        doc="truncated backpropagation: backward and detach the state every this many time steps",
    )
    eval_every: int = field(
        default=100,
        validator=ge(1),
        doc="on a task: steps per epoch (evaluate, checkpoint, epoch hooks); data evaluates once per epoch",
    )
    eval_batches: int = field(default=4, validator=ge(1), doc="on a task: batches per evaluation (the same ones)")
    log_every: int = field(default=10, validator=ge(1), doc="steps between training lines in metrics.jsonl")
    monitor: str | None = field(
        default=None, doc="evaluation metric that picks the best checkpoint and stops early (default: the task's)"
    )
    monitor_mode: str = field(
        default="auto", validator=one_of(*MONITOR_MODES), doc="min or max of the monitor; auto: from the metric"
    )
    patience: int | None = field(
        default=None, validator=optional(ge(1)), doc="stop after this many evaluations without improvement"
    )
    min_delta: float = field(default=0.0, validator=ge(0.0), doc="smallest change of the monitor that counts")
    val_fraction: float | None = field(
        default=None,
        validator=optional(between(0.0, 1.0, inclusive=False)),
        doc="data: fraction split off for validation",
    )
    repeat: int = field(default=1, validator=ge(1), doc="data: time steps a per-sequence input (B, F) is fed (1: once)")
    accelerator: str = field(default="auto", doc="Fabric accelerator: auto (a GPU when there is one), cpu, cuda, mps")
    devices: int | str = field(default=1, doc="processes (devices) per node, or a list such as '0,1', or auto")
    strategy: str = field(default="auto", validator=one_of(*STRATEGIES), doc="auto, ddp, ddp_spawn, ddp_fork, fsdp")
    num_nodes: int = field(default=1, validator=ge(1), doc="machines taking part")
    precision: str = field(
        default="32-true", validator=one_of(*PRECISIONS), doc="32-true, 64-true, bf16-mixed, 16-mixed, bf16-true, ..."
    )
    deterministic: bool = field(default=False, doc="torch.use_deterministic_algorithms for the run")
    param_groups: dict[str, ParamGroupSpec] = field(
        factory=dict,
        hash=False,
        doc="per module path (nodes.mem): {lr_scale, update_every} for the parameters under it",
    )
    tricks: tuple[Any, ...] = field(
        default=(), doc="training extensions: names, 'name:key=value,...' or {use: name, key: value}"
    )
    loggers: tuple[Any, ...] = field(
        default=(), doc="loggers beside metrics.jsonl and the plots: tensorboard, mlflow, 'name:key=value,...'"
    )

    def __attrs_post_init__(self) -> None:
        if not all(0.0 <= beta < 1.0 for beta in self.betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(self.betas)}")


def migrate_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Settings written by an earlier version (checkpoints, scripts) in today's names: ``device``
    becomes ``accelerator``/``devices``, ``fp32``/``bf16``/``fp16`` Fabric's precision names, and a
    single trick or logger a list."""
    data = dict(data)
    if "device" in data:
        device = str(data.pop("device"))
        kind, _, index = device.partition(":")
        data.setdefault("accelerator", "auto" if kind == "auto" else kind)
        if index:
            data.setdefault("devices", f"{index},")
    precision = data.get("precision")
    if isinstance(precision, str) and precision in _OLD_PRECISIONS:
        data["precision"] = _OLD_PRECISIONS[precision]
    for key in ("tricks", "loggers"):
        if key in data and not isinstance(data[key], (list, tuple)):
            data[key] = _entries(data[key])
    return data
