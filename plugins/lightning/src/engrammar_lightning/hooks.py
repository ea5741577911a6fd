"""The training hooks of :mod:`engrammar.hooks` as a Lightning callback, so one trick (or logger)
serves both trainers: ``engrammar-train``'s and Lightning's own.

    trainer = lightning.Trainer(callbacks=[TrainingHooks(tricks=["ghost_gradients"], loggers=["jsonl"])])

:class:`EngrammarModule` makes one from its ``tricks``/``loggers``/``hooks`` settings and adds it
(``configure_callbacks``). Lightning's events map onto the hooks:

=================================  ========================================================
Lightning                          engrammar hook
=================================  ========================================================
on_train_start (after a resume)    on_train_start
on_train_epoch_start               on_epoch_start
on_validation_start / _end         on_evaluate_start / on_evaluate_end (metrics)
validation end, while fitting      on_epoch_end (metrics), then on_log (an ``eval`` record)
on_train_end                       on_train_end
on_save_checkpoint                 on_checkpoint_save (into ``checkpoint["engrammar"]``)
on_load_checkpoint                 on_checkpoint_load
LightningModule.on_load_checkpoint before_checkpoint_restore (before the weights are loaded)
configure_optimizers               make_optimizer
=================================  ========================================================

The hooks inside an optimizer step (``before_backward``, ``after_backward``,
``before_optimizer_step``, ``after_optimizer_step``) are called by :class:`EngrammarModule`'s
training step, which knows where its backward passes and clipping are.

Hooks receive a :class:`LightningRun` as their ``trainer``: the attributes tricks and loggers read
(``model``, ``task``, ``config``, ``optimizer``, ``step``, ``epoch``, ``world_size``, ``out_dir``,
``log``...), read from the Lightning Trainer and the module. Loggers run on the first process only;
their folder (``out_dir``) is the Lightning Trainer's ``default_root_dir``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import pluggy
from engrammar.hooks import make_plugin_manager
from engrammar.spec import SpecError
from engrammar_train.extensions import load_logger, load_trick, register_checked

if TYPE_CHECKING:
    from .module import EngrammarModule

__all__ = ["CHECKPOINT_KEY", "LightningRun", "TrainingHooks"]

#: the entry of a Lightning checkpoint holding what the hooks saved
CHECKPOINT_KEY = "engrammar"


class LightningRun:
    """What the hooks see as ``trainer`` under Lightning: the run's model, task, settings and
    position, read live from the Lightning Trainer and the :class:`EngrammarModule`."""

    def __init__(self, module: EngrammarModule, hooks: TrainingHooks) -> None:
        self.module, self._hooks = module, hooks

    @property
    def lightning(self) -> pl.Trainer:
        """The Lightning Trainer."""
        return self.module.trainer

    @property
    def model(self) -> Any:
        return self.module.model

    @property
    def task(self) -> Any:
        return self.module.task

    @property
    def config(self) -> Any:
        return self.module.config

    @property
    def recipe(self) -> Any:
        return self.module.recipe

    @recipe.setter
    def recipe(self, value: Any) -> None:  # a trick that grows the model records the new spec
        self.module.recipe = value

    @property
    def task_data(self) -> Any:
        return self.module.task_data

    @property
    def optimizer(self) -> Any:
        optimizers = self.lightning.optimizers
        return optimizers[0] if optimizers else None

    @property
    def step(self) -> int:
        return self.module.steps_done

    @property
    def epoch(self) -> int:
        return int(self.lightning.current_epoch)

    @property
    def world_size(self) -> int:
        return int(self.lightning.world_size)

    @property
    def rank(self) -> int:
        return int(self.lightning.global_rank)

    @property
    def is_main(self) -> bool:
        return bool(self.lightning.is_global_zero)

    @property
    def device(self) -> Any:
        return self.module.device

    @property
    def out_dir(self) -> Path:
        return Path(self.lightning.default_root_dir)

    @property
    def last_eval(self) -> dict[str, float]:
        return self.module.validation_metrics()

    def describe(self) -> dict[str, Any]:
        """The run as plain data (a logger's parameters)."""
        return dict(self.module.hparams)

    def log(self, record: dict[str, Any]) -> None:
        """Hand a metrics record to the loggers (the first process only)."""
        self._hooks.log_record(self.module, record)

    def plot_traces(self) -> list[Path]:
        """Trace plots are drawn by engrammar-train's trainer; under Lightning there are none."""
        return []


class TrainingHooks(pl.Callback):
    """Tricks, loggers and other objects implementing :mod:`engrammar.hooks`, run by Lightning.

    ``tricks``: names, ``"name:key=value,..."``, ``{"use": name, ...}`` or trick objects (the
    registry kind ``tricks``); ``loggers``: the same for the entry-point group
    ``engrammar.loggers`` (first process only); ``hooks``: further objects. Errors name the entry
    (``tricks[0].persistence: ...``).
    """

    def __init__(
        self, *, tricks: Iterable[Any] = (), loggers: Iterable[Any] = (), hooks: Iterable[object] = ()
    ) -> None:
        super().__init__()
        self.manager: pluggy.PluginManager = make_plugin_manager()
        for index, entry in enumerate(tricks):
            register_checked(self.manager, load_trick(entry, f"tricks[{index}]"), f"tricks[{index}]")
        self._loggers = [load_logger(entry, f"loggers[{index}]") for index, entry in enumerate(loggers)]
        self._loggers_registered = False
        for index, hook in enumerate(hooks):
            register_checked(self.manager, hook, f"hooks[{index}]")
        self._runs: dict[int, LightningRun] = {}

    @property
    def has_loggers(self) -> bool:
        return bool(self._loggers)

    def run(self, module: EngrammarModule) -> LightningRun:
        """The :class:`LightningRun` the hooks receive for ``module``."""
        key = id(module)
        if key not in self._runs:
            self._runs[key] = LightningRun(module, self)
        return self._runs[key]

    @staticmethod
    def _module(pl_module: pl.LightningModule) -> EngrammarModule:
        from .module import EngrammarModule

        if not isinstance(pl_module, EngrammarModule):
            raise SpecError("TrainingHooks", f"runs with an EngrammarModule, not a {type(pl_module).__name__}")
        return pl_module

    # ---- the hooks inside an optimizer step (called by EngrammarModule) ------------------------

    def before_backward(self, module: EngrammarModule, loss: Any) -> list[Any]:
        return list(self.manager.hook.before_backward(trainer=self.run(module), loss=loss))

    def after_backward(self, module: EngrammarModule) -> None:
        self.manager.hook.after_backward(trainer=self.run(module))

    def before_optimizer_step(self, module: EngrammarModule, optimizer: Any) -> None:
        self.manager.hook.before_optimizer_step(trainer=self.run(module), optimizer=optimizer)

    def after_optimizer_step(self, module: EngrammarModule, optimizer: Any) -> None:
        self.manager.hook.after_optimizer_step(trainer=self.run(module), optimizer=optimizer)

    def make_optimizer(self, module: EngrammarModule, parameters: list[Any]) -> Any:
        offered = self.manager.hook.make_optimizer(trainer=self.run(module), parameters=parameters)
        if len(offered) > 1:
            raise SpecError("tricks", f"{len(offered)} tricks each supply the optimizer; enable at most one")
        return offered[0] if offered else None

    def log_record(self, module: EngrammarModule, record: dict[str, Any]) -> None:
        if module.trainer.is_global_zero:
            self.manager.hook.on_log(trainer=self.run(module), record=record)

    def before_checkpoint_restore(self, module: EngrammarModule, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        if saved is not None:
            self.manager.hook.before_checkpoint_restore(trainer=self.run(module), checkpoint=saved)

    # ---- Lightning's events ------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not self._loggers_registered and trainer.is_global_zero:
            for index, logger in enumerate(self._loggers):
                register_checked(self.manager, logger, f"loggers[{index}]")
        self._loggers_registered = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.manager.hook.on_train_start(trainer=self.run(self._module(pl_module)))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.manager.hook.on_train_end(trainer=self.run(self._module(pl_module)))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.manager.hook.on_epoch_start(trainer=self.run(self._module(pl_module)), epoch=trainer.current_epoch)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.manager.hook.on_evaluate_start(trainer=self.run(self._module(pl_module)))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        module = self._module(pl_module)
        metrics = module.validation_metrics()
        self.manager.hook.on_evaluate_end(trainer=self.run(module), metrics=metrics)
        if trainer.sanity_checking or trainer.state.fn != "fit":  # a validation of its own: no epoch
            return
        self.manager.hook.on_epoch_end(trainer=self.run(module), epoch=trainer.current_epoch, metrics=metrics)
        self.log_record(module, {"step": int(trainer.global_step), "split": "eval", **metrics})

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        saved: dict[str, Any] = {}
        self.manager.hook.on_checkpoint_save(trainer=self.run(self._module(pl_module)), checkpoint=saved)
        checkpoint[CHECKPOINT_KEY] = saved

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # A checkpoint written without the hooks still reaches them (a trick says it starts afresh).
        saved = checkpoint.get(CHECKPOINT_KEY)
        saved = dict(saved) if isinstance(saved, Mapping) else {}
        self.manager.hook.on_checkpoint_load(trainer=self.run(self._module(pl_module)), checkpoint=saved)
