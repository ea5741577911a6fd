"""Per-node parameter groups: a learning-rate scale and an update interval for a part of the model.

    train:
      param_groups:
        nodes.persist: {lr_scale: 0.1, update_every: 4}     # slow: a tenth of the rate, every 4th step

or ``--set 'train.param_groups={nodes.persist: {lr_scale: 0.1, update_every: 4}}'``. A key is a
module path as in the parameter names (``nodes.persist``, ``nodes.mem.initial_weights``): every
parameter whose name starts with it, at a dot, belongs to the group; when several keys match, the
longest wins. The other parameters form the default group (scale 1, every step).

A group's learning rate is ``lr * lr_scale`` and follows the schedule with the rest. A group with
``update_every: k`` is updated on every k-th optimizer step (steps k, 2k, ...) with the mean of
the gradients of its last k steps (each clipped with the others as usual); on the other steps the
optimizer leaves it untouched: no step, no weight decay, no moment update. The gradients held back
in between are part of the checkpoint, so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, field, ge, gt, spec
from torch import nn

__all__ = ["CHECKPOINT_KEY", "ParamGroup", "SlowUpdates", "optimizer_groups"]

CHECKPOINT_KEY = "slow_updates"


@spec
class ParamGroup:
    """How one part of the model trains relative to the rest."""

    lr_scale: float = field(default=1.0, validator=gt(0.0), doc="the group's learning rate is lr * lr_scale")
    update_every: int = field(
        default=1, validator=ge(1), doc="update on every k-th step, with the mean gradient of the last k steps"
    )


def optimizer_groups(model: nn.Module, groups: Mapping[str, ParamGroup], lr: float) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the default group first (name ``""``), then one per key
    of ``groups`` (keys in ``name``, intervals in ``update_every``). Parameters that do not require
    gradients are left out. A key that matches no parameter is an error naming it."""
    members: dict[str, list[nn.Parameter]] = {"": [], **{key: [] for key in groups}}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        matches = [key for key in groups if name == key or name.startswith(f"{key}.")]
        members[max(matches, key=len) if matches else ""].append(parameter)
    for key, found in members.items():
        if key and not found:
            known = sorted({".".join(name.split(".")[:2]) for name, _ in model.named_parameters()})
            raise SpecError(
                f"train.param_groups.{key}",
                f"matches no trainable parameter (parameter names start with {', '.join(known) or 'nothing'})",
            )
    return [
        {
            "params": found,
            "lr": lr * (groups[key].lr_scale if key else 1.0),
            "name": key,
            "update_every": groups[key].update_every if key else 1,
        }
        for key, found in members.items()
        if found or not key
    ]


class SlowUpdates:
    """Trainer hooks that hold back the gradients of groups with ``update_every`` > 1 between their
    updates (registered by the trainer when such a group exists)."""

    def __init__(self) -> None:
        self.held: dict[str, torch.Tensor] = {}  # "<group>.<parameter>" -> gradient sum since the last update

    @hookimpl
    def before_optimizer_step(self, trainer: Any, optimizer: torch.optim.Optimizer) -> None:
        step = trainer.step + 1  # the step about to be taken, counted from 1
        for group_index, group in enumerate(optimizer.param_groups):
            every = int(group.get("update_every", 1))
            if every == 1:
                continue
            for index, parameter in enumerate(group["params"]):
                key = f"{group_index}.{index}"
                total = self.held.pop(key, None)
                if parameter.grad is not None:
                    total = parameter.grad.detach().clone() if total is None else total + parameter.grad
                if step % every == 0:
                    parameter.grad = None if total is None else total / every
                else:
                    if total is not None:
                        self.held[key] = total
                    parameter.grad = None  # the optimizer skips a parameter without a gradient

    @hookimpl
    def on_checkpoint_save(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = dict(self.held)

    @hookimpl
    def on_checkpoint_load(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        held = checkpoint.get(CHECKPOINT_KEY, {})
        self.held = {key: tensor.to(trainer.device) for key, tensor in held.items()}
