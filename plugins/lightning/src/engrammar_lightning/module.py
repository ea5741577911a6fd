"""``EngrammarModule``: a ``lightning.LightningModule`` around any engrammar component or wiring.

    module = EngrammarModule("examples/lstm_dnc.yaml", "copy", tbptt=16, lr=3e-3)
    module = EngrammarModule("lstm", "antipodal", overrides={"hidden_size": 64})
    module = EngrammarModule("gru", datamodule)           # the user's tensors (EngrammarDataModule)
    lightning.Trainer(max_epochs=5).fit(module, datamodule=EngrammarDataModule("copy"))

The model is fitted to the task as ``engrammar-train`` fits it (the task's input width, a linear
read-out to its output width when needed; :func:`engrammar_train.build_for_task`). Per training
batch ``(inputs, targets, mask)`` the module optimises manually, because one batch is several
backward passes under truncated backpropagation:

    zero the gradients
    for each chunk of ``tbptt`` steps (the whole sequence when unset):
        y, state = model(chunk, state)             # the state comes in from the previous chunk
        loss = task loss on the chunk × its share of the batch's masked positions
               + the model's auxiliary losses × the chunk's share of the time steps
               + what the ``before_backward`` hooks add
        backward; state = detach(state)            # no gradient into earlier chunks
    after_backward hooks; clip the gradient norm; before_optimizer_step hooks
    optimizer step; after_optimizer_step hooks; schedule step

so a batch's gradient equals the one of a single loss over the whole sequence with the state
detached at the chunk boundaries. Under mixed precision with a gradient scaler, Lightning unscales
the gradients before ``on_before_optimizer_step``, where the clipping and the hooks around it run.
With several processes (DDP) every backward pass averages the gradients over the processes.

The optimizer is AdamW and the schedule OneCycleLR by default (``engrammar-train``'s optimizers and
schedules: ``optimizer``, ``lr``, ``weight_decay``, ``schedule``, ``warmup_fraction``, ...); the
schedule spans ``trainer.estimated_stepping_batches`` optimizer steps. Tricks and loggers of the
training hooks (``tricks=["ghost_gradients"]``, ``loggers=["jsonl"]``) run through
:class:`~engrammar_lightning.hooks.TrainingHooks`, a Lightning callback this module adds.

Validation logs ``val_loss`` and ``val_<metric>`` (the task's metrics) for Lightning's callbacks
(early stopping, checkpoints); training logs ``train_loss``, ``grad_norm`` and ``lr``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

import lightning.pytorch as pl
import torch
from engrammar.component import Component
from engrammar.recorder import recording
from engrammar.spec import SpecError, structure, unstructure
from engrammar.state import detach_state
from engrammar.task import Task, TaskBatch
from engrammar_train.config import TrainConfig
from engrammar_train.data import DataTask
from engrammar_train.losses import LOSSES, Loss, resolve_loss
from engrammar_train.model import ModelSource, build_for_task, build_task
from engrammar_train.optim import make_optimizer, make_scheduler
from torch import Tensor

from .hooks import TrainingHooks

__all__ = ["MODULE_SETTINGS", "EngrammarModule"]

#: The settings of ``engrammar-train``'s TrainConfig that the module takes (the rest belong to the
#: Lightning Trainer: devices, precision, epochs, accumulation, early stopping).
MODULE_SETTINGS = (
    "optimizer",
    "lr",
    "weight_decay",
    "betas",
    "momentum",
    "schedule",
    "warmup_fraction",
    "warmup_steps",
    "min_lr",
    "step_size",
    "gamma",
    "grad_clip",
    "tbptt",
    "seed",
    "log_every",
    "tricks",
    "loggers",
)
_TRAINER_SETTINGS = {
    "accelerator": "accelerator",
    "devices": "devices",
    "strategy": "strategy",
    "num_nodes": "num_nodes",
    "precision": "precision",
    "epochs": "max_epochs",
    "steps": "max_steps",
    "accumulate": "accumulate_grad_batches",
    "patience": "an EarlyStopping callback",
    "deterministic": "deterministic",
}
#: Defaults that differ from engrammar-train's: the seed's OneCycleLR.
_DEFAULTS = {"schedule": "onecycle"}


def _settings(settings: Mapping[str, Any]) -> TrainConfig:
    for key in settings:
        if key in _TRAINER_SETTINGS:
            raise SpecError(
                f"settings.{key}", f"belongs to the Lightning Trainer ({_TRAINER_SETTINGS[key]}), not to the module"
            )
    known = set(MODULE_SETTINGS)
    unknown = [key for key in settings if key not in known]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(f"settings.{unknown[0]}", f"unknown setting{hint} (settings: {', '.join(MODULE_SETTINGS)})")
    return structure({**_DEFAULTS, **settings}, TrainConfig, path="settings")


def _resolve_task(
    task_or_loss: Any, model: ModelSource, in_features: int | None, out_features: int | None
) -> tuple[Task, dict[str, Any]]:
    """The task (and its description as data) that ``task_or_loss`` names: a registry task (name,
    mapping, object), a datamodule's task, or a loss for the user's data (name or callable)."""
    task = getattr(task_or_loss, "task", None)
    if isinstance(task, Task):  # an EngrammarDataModule
        task_or_loss = task
    if isinstance(task_or_loss, DataTask):
        return task_or_loss, task_or_loss.describe()
    if isinstance(task_or_loss, Mapping) and task_or_loss.get("use") is None and "loss" in task_or_loss:
        # the description of a DataTask (a checkpoint's hyperparameters)
        data = dict(task_or_loss)
        loss = resolve_loss(str(data["loss"]), torch.zeros(1))
        return DataTask(loss, int(data["in_features"]), int(data["out_features"])), data
    if isinstance(task_or_loss, Loss) or (callable(task_or_loss) and not isinstance(task_or_loss, Task)):
        return _data_task(resolve_loss(task_or_loss, torch.zeros(1)), model, in_features, out_features)
    if isinstance(task_or_loss, str) and task_or_loss in LOSSES:
        return _data_task(LOSSES[task_or_loss], model, in_features, out_features)
    if not isinstance(task_or_loss, (str, Mapping, Task)):
        raise SpecError(
            "task_or_loss",
            f"expected a task (name, mapping or object), a datamodule, or a loss ({', '.join(LOSSES)} or a "
            f"callable), got {type(task_or_loss).__name__}",
        )
    return build_task(task_or_loss)


def _data_task(loss: Loss, model: ModelSource, in_features: int | None, out_features: int | None) -> tuple:
    if isinstance(model, Component):
        in_features = model.in_features if in_features is None else in_features
        out_features = model.out_features if out_features is None else out_features
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if value is None:
            raise SpecError(
                name, f"a loss instead of a task needs the data's widths: give {name} (or a built component)"
            )
    task = DataTask(loss, cast(int, in_features), cast(int, out_features))
    return task, task.describe()


def _plain(value: Any) -> Any:
    """``value`` when it is plain data (saved as a hyperparameter), else None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        items = {str(k): _plain(v) for k, v in value.items()}
        return items if all(v is not None or value[k] is None for k, v in items.items()) else None
    if isinstance(value, (list, tuple)):
        items_list = [_plain(v) for v in value]
        return items_list if all(v is not None for v in items_list) else None
    return None


class EngrammarModule(pl.LightningModule):
    """A LightningModule training ``model`` on ``task_or_loss``.

    ``model``: a registry name, a wiring file, a spec mapping or a built component. ``task_or_loss``:
    a registry task (name, ``{"use": name, ...}``, object), an :class:`EngrammarDataModule` (its
    task), or a loss for the user's data (``cross_entropy``, ``mse``, ``bce`` or a callable; then
    ``in_features``/``out_features`` give the widths unless ``model`` is built). ``overrides``:
    model fields (``{"hidden_size": 32}``, ``["nodes.ctrl.hidden_size=32"]``). ``hooks``: objects
    implementing :mod:`engrammar.hooks`. ``use_amp``: run the forward passes under
    ``torch.autocast`` in bfloat16 on the module's device (the weights stay in their dtype; no
    gradient scaler is needed; a Trainer's ``precision="16-mixed"`` is float16 AMP with a scaler
    and needs no ``use_amp``). ``settings``: the fields of :data:`MODULE_SETTINGS`
    (``lr``, ``tbptt``, ``grad_clip``, ``schedule``, ``tricks``, ``loggers``, ...), checked with
    errors naming the field.

    Attributes: ``model`` (the component), ``task``, ``config`` (a TrainConfig), ``recipe`` (the
    model's spec as data), ``task_data`` (the task's).
    """

    def __init__(
        self,
        model: ModelSource,
        task_or_loss: Any = "antipodal",
        *,
        overrides: Mapping[str, Any] | Iterable[str] = (),
        in_features: int | None = None,
        out_features: int | None = None,
        hooks: Iterable[object] = (),
        use_amp: bool = False,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.use_amp = bool(use_amp)
        self.automatic_optimization = False  # several backward passes per batch (truncation)
        self.config = _settings(settings)
        task, self.task_data = _resolve_task(task_or_loss, model, in_features, out_features)
        self.task = task
        torch.manual_seed(self.config.seed)  # the initial parameters follow the seed
        self.model, self.recipe = build_for_task(model, task, overrides)
        self.training_hooks = TrainingHooks(tricks=self.config.tricks, loggers=self.config.loggers, hooks=hooks)
        chosen = {k: v for k, v in unstructure(self.config).items() if k in MODULE_SETTINGS}
        hyperparameters = {"model": self.recipe, "task_or_loss": self.task_data, "use_amp": self.use_amp, **chosen}
        for key in ("tricks", "loggers"):
            hyperparameters[key] = _plain(list(hyperparameters[key])) or []
        self.save_hyperparameters(hyperparameters)
        self._step_started: int | None = None  # the optimizer step in progress (for the hooks)
        self._last_grad_norm = math.nan

    # ---- Lightning's set-up ------------------------------------------------------------------

    def configure_callbacks(self) -> list[pl.Callback]:
        # A TrainingHooks given to the Lightning Trainer serves when the module has none of its own
        # (Lightning lets the module's replace the Trainer's callbacks of the same type).
        return (
            [self.training_hooks]
            if self.training_hooks.manager.get_plugins() or self.training_hooks.has_loggers
            else []
        )

    @property
    def active_hooks(self) -> TrainingHooks:
        """The run's :class:`TrainingHooks`: the module's own, or the one given to the Trainer."""
        trainer = self._trainer
        if trainer is not None:
            for callback in trainer.callbacks:  # type: ignore[attr-defined]
                if isinstance(callback, TrainingHooks):
                    return callback
        return self.training_hooks

    def configure_optimizers(self) -> Any:
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        offered = self.active_hooks.make_optimizer(self, parameters)
        optimizer = offered if offered is not None else make_optimizer(parameters, self.config)
        total = self.total_steps()
        try:
            scheduler = make_scheduler(optimizer, self.config, total)
        except SpecError as err:
            raise err.rerooted("train", "settings") from None
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def total_steps(self) -> int:
        """Optimizer steps of the run, as the Lightning Trainer estimates them (max_steps, or
        max_epochs × batches per epoch)."""
        steps = int(self.trainer.estimated_stepping_batches)
        if steps <= 0 or steps >= 2**31:
            raise SpecError("trainer.max_epochs", "the run has no finite length: give max_epochs or max_steps")
        return steps

    # ---- the training step -------------------------------------------------------------------

    def forward(self, inputs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """The component: ``(inputs (B, T, in), state) -> (outputs (B, T, out), state)``."""
        return self.model(inputs, state)  # type: ignore[no-any-return]

    @property
    def steps_done(self) -> int:
        """Optimizer steps taken before the one in progress (what the hooks see as ``step``)."""
        return self._step_started if self._step_started is not None else int(self.trainer.global_step)

    def _batch(self, batch: Any) -> TaskBatch:
        if isinstance(batch, TaskBatch):
            inputs, targets, mask = batch.inputs, batch.targets, batch.mask
        else:
            inputs, targets, mask = batch
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), inputs.dtype)
        return TaskBatch(inputs.to(dtype), targets, mask.bool())

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.use_amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        batch = self._batch(batch)
        optimizer = cast(Any, self.optimizers())
        hooks = self.active_hooks
        self._step_started = int(self.trainer.global_step)
        optimizer.zero_grad(set_to_none=True)
        length = batch.inputs.shape[1]
        chunk = self.config.tbptt or length
        total = batch.mask.sum().clamp_min(1)
        state = None
        loss_value = torch.zeros((), device=batch.inputs.device, dtype=torch.float64)
        outputs = []
        for start in range(0, length, chunk):
            part = TaskBatch(*(t[:, start : start + chunk] for t in (batch.inputs, batch.targets, batch.mask)))
            with self._autocast(), recording(self.model) as record:
                y, state = self.model(part.inputs, state)
                if bool(part.mask.any()):
                    loss = self.task.loss(y, part) * (part.mask.sum() / total)
                else:  # nothing counts here; every process still runs the backward pass (DDP)
                    loss = y.sum() * 0.0
                for extra in record.losses.values():
                    loss = loss + extra * (part.inputs.shape[1] / length)
            for extra in hooks.before_backward(self, loss):
                loss = loss + extra
            self.manual_backward(loss)
            loss_value += loss.detach().double()
            outputs.append(y.detach().float())
            state = detach_state(state)
        if not bool(torch.isfinite(loss_value)):
            raise FloatingPointError(
                f"the loss is {float(loss_value)} at step {self._step_started + 1}; the step was not applied"
            )
        optimizer.step()  # the clipping and the hooks around it run in on_before_optimizer_step
        hooks.after_optimizer_step(self, optimizer)
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            cast(Any, scheduler).step()
        self._step_started = None
        batch_size = batch.inputs.shape[0]
        self.log("train_loss", loss_value.float(), prog_bar=True, batch_size=batch_size)
        self.log("grad_norm", self._last_grad_norm, batch_size=batch_size)
        self.log("lr", float(optimizer.param_groups[0]["lr"]), batch_size=batch_size)
        step = int(self.trainer.global_step)
        if step % self.config.log_every == 0:
            metrics = self.task.metrics(torch.cat(outputs, dim=1), batch)
            hooks.log_record(
                self,
                {
                    "step": step,
                    "split": "train",
                    **metrics,
                    "loss": float(loss_value),
                    "grad_norm": self._last_grad_norm,
                    "lr": float(optimizer.param_groups[0]["lr"]),
                },
            )
        return loss_value.float()

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """After every backward pass of the step (and the unscaling of mixed precision): the
        ``after_backward`` hooks, the clipping, the ``before_optimizer_step`` hooks."""
        if self._step_started is None:
            return  # not a step of this module's training_step
        hooks = self.active_hooks
        hooks.after_backward(self)
        limit = self.config.grad_clip if self.config.grad_clip > 0 else math.inf
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm=limit) if parameters else torch.zeros(())
        self._last_grad_norm = float(norm)
        hooks.before_optimizer_step(self, optimizer)

    # ---- validation --------------------------------------------------------------------------

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        batch = self._batch(batch)
        with self._autocast():
            y, _ = self.model(batch.inputs)
        y = y.float()
        size = batch.inputs.shape[0]
        metrics = self.task.metrics(y, batch)
        metrics.setdefault("loss", float(self.task.loss(y, batch)))
        for name, value in metrics.items():
            self.log(f"val_{name}", float(value), prog_bar=name in ("loss", self.task.metric_name),
                     batch_size=size, sync_dist=True)  # fmt: skip

    def validation_metrics(self) -> dict[str, float]:
        """The last validation's metrics by the task's names (``loss``, ``accuracy``, ...)."""
        metrics = self.trainer.callback_metrics
        return {key[4:]: float(value) for key, value in metrics.items() if key.startswith("val_")}

    # ---- checkpoints -------------------------------------------------------------------------

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Before the weights are loaded: a hook that changed the model's structure matches it now.
        self.active_hooks.before_checkpoint_restore(self, checkpoint)
