"""Hook specifications for training extensions (tricks, loggers), called by the trainer.

Extensions are plain objects with methods named after these hooks, marked with ``@hookimpl``;
pluggy calls every registered implementation. Hooks receive the trainer, which exposes the model,
optimizer, step counter and task. The trainer (and the Lightning adapter) call, per training step::

    on_train_start -> [on_epoch_start] -> before_backward (per backward pass) -> after_backward
        -> before_optimizer_step -> after_optimizer_step -> [on_epoch_end] -> ... -> on_train_end

``on_log`` whenever a metrics record is made (loggers implement it), ``on_checkpoint_save`` /
``on_checkpoint_load`` when a checkpoint is written or read (``before_checkpoint_restore`` before
one is loaded), ``on_evaluate_start`` / ``on_evaluate_end`` around every evaluation, and
``make_optimizer`` once, when the optimizer is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

__all__ = ["PROJECT", "HookSpecs", "hookimpl", "hookspec", "make_plugin_manager"]

PROJECT = "engrammar"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """The training hooks. Every argument is passed by keyword; implementations may take any subset."""

    @hookspec
    def on_train_start(self, trainer: Any) -> None:
        """Once, before the first step (after a resume has restored everything)."""

    @hookspec
    def on_train_end(self, trainer: Any) -> None:
        """Once, after the last step."""

    @hookspec
    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        """At the start of each epoch (a fixed number of steps for generated tasks)."""

    @hookspec
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        """At the end of each epoch, with that epoch's metrics; implementations may add entries."""

    @hookspec
    def before_backward(self, trainer: Any, loss: Any) -> Any:
        """Just before each backward pass (one per truncated-backpropagation chunk). Return an extra
        scalar loss term (a tensor) to add to it, or ``None``. All returned terms are summed in."""

    @hookspec
    def after_backward(self, trainer: Any) -> None:
        """Once per optimizer step, after every backward pass of the step and, with several
        processes, after their gradients are summed; before clipping. Edit ``param.grad`` here."""

    @hookspec
    def before_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        """After gradient clipping, just before ``optimizer.step()``."""

    @hookspec
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        """After ``optimizer.step()`` (parameters are updated; edit them or the optimizer here)."""

    @hookspec
    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        """A metrics record was made: ``{"step": ..., "split": "train" or "eval", name: value, ...}``.
        Called on the first process only; loggers write it out."""

    @hookspec
    def on_checkpoint_save(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is being written. Put this extension's state into ``checkpoint`` under a key
        of its own (tensors and plain JSON data only: checkpoints are never pickled)."""

    @hookspec
    def on_checkpoint_load(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        """A checkpoint was read: restore this extension's state from ``checkpoint``."""

    @hookspec
    def before_checkpoint_restore(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        """A checkpoint was read and is about to be restored, before the model's weights and the
        optimizer's state are loaded: an extension that changes the model's structure during
        training (neurogenesis) makes the model match the checkpoint here."""

    @hookspec
    def make_optimizer(self, trainer: Any, parameters: list[Any]) -> Any:
        """Supply the run's optimizer: return a ``torch.optim.Optimizer`` over ``parameters`` (the
        rate, betas and weight decay are in ``trainer.config``), or ``None`` to leave it to the
        trainer. Called once, before training (and before a resume restores the optimizer's
        state); at most one extension may return one."""

    @hookspec
    def on_evaluate_start(self, trainer: Any) -> None:
        """Before each evaluation: an extension may put other weights in place to be evaluated
        (an exponential moving average of the parameters, say)."""

    @hookspec
    def on_evaluate_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        """After each evaluation, with its metrics: undo what ``on_evaluate_start`` did."""


def make_plugin_manager(plugins: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the training hook specifications and ``plugins`` registered."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(HookSpecs)
    for plugin in plugins:
        manager.register(plugin)
    return manager
