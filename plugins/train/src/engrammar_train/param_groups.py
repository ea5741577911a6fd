"""Per-node parameter groups (``train.param_groups``): a learning-rate scale and an update interval
for the parameters under a module path of the model, e.g. a slow persistent memory beside fast
attention::

    train:
      param_groups:
        nodes.persist: {lr_scale: 0.1, update_every: 4}

A path names a module (a wiring node ``nodes.<name>``, or anything deeper such as
``nodes.ctrl.cell``) or one parameter; it covers the parameters whose names are the path or start
with ``<path>.``. A parameter under several paths belongs to the longest.

- ``lr_scale``: the group's rate is the run's rate times the scale, at every point of the schedule.
- ``update_every``: the group's parameters are stepped on optimizer steps N, 2N, 3N, ... only. In
  between, their gradients (each step's, after clipping) are summed; on the N-th step the
  optimizer gets their mean over the N steps, so the update sees every batch of the interval, at
  the scale of one step's gradient. The sums are part of the checkpoint, so a run resumed in the
  middle of an interval steps exactly as one that never stopped.

The groups are cut out of whatever optimizer the run uses (the configured one or a trick's, e.g.
``adamw8bit``): each is a new entry of ``optimizer.param_groups`` carrying the original group's
settings with ``lr`` scaled, and ``name``, ``lr_scale`` and ``update_every`` for inspection.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import torch
from engrammar.spec import SpecError, field, ge, gt, spec
from torch import Tensor, nn

__all__ = ["ParamGroupSpec", "SlowUpdates", "assign_parameters", "split_param_groups"]

PATH = "train.param_groups"


@spec
class ParamGroupSpec:
    """How the parameters under one module path train."""

    lr_scale: float = field(default=1.0, validator=gt(0.0), doc="the group's learning rate is lr times this")
    update_every: int = field(
        default=1,
        validator=ge(1),
        doc="step the group every this many optimizer steps, with the mean gradient of those steps",
    )


def assign_parameters(model: nn.Module, groups: Mapping[str, ParamGroupSpec]) -> dict[str, list[str]]:
    """For each path of ``groups``, the names of the trainable parameters it covers (each parameter
    goes to its longest covering path). A path that covers no trainable parameter is an error
    naming the path, with the closest module path of the model."""
    names = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
    assigned: dict[str, list[str]] = {path: [] for path in groups}
    by_length = sorted(groups, key=len, reverse=True)
    for name in names:
        for path in by_length:
            if name == path or name.startswith(path + "."):
                assigned[path].append(name)
                break
    modules = [module_path for module_path, _ in model.named_modules() if module_path]
    for path, members in assigned.items():
        if members:
            continue
        where = f"{PATH}.{path}"
        if any(name == path or name.startswith(path + ".") for name in names):
            raise SpecError(where, "every parameter here belongs to a longer path of param_groups")
        if path in modules:
            raise SpecError(where, "this module has no trainable parameter")
        close = difflib.get_close_matches(path, modules + names, n=1, cutoff=0.5)
        if close:
            raise SpecError(where, f"matches no parameter of the model; did you mean '{close[0]}'?")
        nodes = sorted({".".join(name.split(".")[:2]) for name in names if name.startswith("nodes.")})
        known = f" (nodes: {', '.join(nodes)})" if nodes else ""
        raise SpecError(where, f"matches no parameter of the model{known}")
    return assigned


def split_param_groups(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    groups: Mapping[str, ParamGroupSpec],
    assigned: Mapping[str, list[str]],
) -> None:
    """Move each path's parameters out of the optimizer's groups into a group of their own: the
    settings of the group they came from, ``lr`` times ``lr_scale``, and ``name``, ``lr_scale``,
    ``update_every``. Call before the optimizer's first step (it carries no state yet)."""
    parameters = dict(model.named_parameters())
    owner = {id(parameters[name]): path for path, members in assigned.items() for name in members}
    original = list(optimizer.param_groups)
    added: dict[str, dict[str, Any]] = {}
    for group in original:
        kept = []
        for parameter in group["params"]:
            path = owner.get(id(parameter))
            if path is None:
                kept.append(parameter)
                continue
            if path not in added:
                settings = {key: value for key, value in group.items() if key != "params"}
                scale = groups[path].lr_scale
                added[path] = {
                    **settings,
                    "params": [],
                    "lr": group["lr"] * scale,
                    "name": path,
                    "lr_scale": scale,
                    "update_every": groups[path].update_every,
                }
            added[path]["params"].append(parameter)
        group["params"] = kept
    missing = [path for path in groups if path not in added]
    if missing:
        raise SpecError(f"{PATH}.{missing[0]}", "the optimizer does not train these parameters")
    for path in groups:  # in the order written
        optimizer.param_groups.append(added[path])


class SlowUpdates:
    """The gradient sums of the groups with ``update_every`` > 1, between their steps.

    :meth:`prepare` runs after clipping and before the optimizer step of optimizer step ``step``
    (1 for the first): it adds each slow parameter's gradient to its sum, and then either hands the
    optimizer the mean of the interval (``step`` a multiple of ``update_every``; the sum restarts)
    or removes the gradient (the optimizer skips a parameter without one)."""

    def __init__(self, groups: Mapping[str, ParamGroupSpec], assigned: Mapping[str, list[str]]) -> None:
        self.every = {
            name: groups[path].update_every
            for path, members in assigned.items()
            for name in members
            if groups[path].update_every > 1
        }
        self.sums: dict[str, Tensor] = {}

    def __bool__(self) -> bool:
        return bool(self.every)

    def prepare(self, model: nn.Module, step: int) -> None:
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            for name, every in self.every.items():
                parameter = parameters[name]
                grad = parameter.grad
                total = self.sums.get(name)
                if total is not None and total.shape != parameter.shape:
                    total = None  # the parameter was resized (a growing model): its interval restarts
                if grad is not None:
                    total = grad.detach().clone() if total is None else total.add_(grad)
                if step % every == 0:
                    parameter.grad = None if total is None else total.div_(every).to(parameter.dtype)
                    self.sums.pop(name, None)
                else:
                    parameter.grad = None
                    if total is not None:
                        self.sums[name] = total

    def state(self) -> dict[str, Tensor]:
        return {name: total.detach().cpu().clone() for name, total in self.sums.items()}

    def load_state(self, state: Mapping[str, Tensor], device: torch.device) -> None:
        self.sums = {name: total.to(device) for name, total in state.items() if name in self.every}
