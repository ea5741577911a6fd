"""Optimizer and learning-rate schedule, made from a :class:`TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from engrammar.spec import SpecError
from torch import nn

from .config import TrainConfig

__all__ = ["make_optimizer", "make_scheduler", "warmup_steps"]


def make_optimizer(parameters: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (default), Adam or SGD with momentum, with the config's rate and weight decay."""
    params = [p for p in parameters if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """Warm-up steps of the schedule: ``warmup_steps`` when set, else ``warmup_fraction`` of the run
    for ``warmup`` and ``onecycle`` (none for ``cosine``)."""
    if config.warmup_steps is not None:
        return config.warmup_steps
    if config.schedule in ("warmup", "onecycle"):
        return round(config.warmup_fraction * total_steps)
    return 0


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The rate over ``total_steps`` optimizer steps (stepped once per optimizer step):

    - ``constant``: None;
    - ``warmup``: linear from lr / warm-up steps to lr, then constant;
    - ``cosine``: cosine annealing from lr to ``min_lr`` (PyTorch's CosineAnnealingLR), after a
      linear warm-up when ``warmup_steps`` is set;
    - ``onecycle``: PyTorch's OneCycleLR (warm-up, then cosine annealing far below lr);
    - ``step``: lr times ``gamma`` every ``step_size`` steps.

    Groups with an ``lr_scale`` (``train.param_groups``) follow the same curve times their scale,
    ``min_lr`` included.
    """
    warmup = warmup_steps(config, total_steps)
    if warmup >= total_steps and config.schedule in ("warmup", "cosine", "onecycle"):
        raise SpecError("train.warmup_steps", f"a warm-up of {warmup} steps leaves nothing of a {total_steps}-step run")
    if config.schedule == "onecycle":
        if warmup < 2:
            raise SpecError(
                "train.warmup_fraction",
                f"a onecycle warm-up of {warmup} of {total_steps} steps is under 2 steps; "
                "train longer or raise warmup_fraction",
            )
        peaks = [config.lr * group.get("lr_scale", 1.0) for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=peaks if len(peaks) > 1 else config.lr,
            total_steps=total_steps,
            pct_start=warmup / total_steps,
        )
    scaled = any(group.get("lr_scale", 1.0) != 1.0 for group in optimizer.param_groups)
    if config.schedule == "cosine" and warmup == 0 and not scaled:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=config.min_lr)
    if config.schedule == "cosine":
        floor = config.min_lr / config.lr

        def cosine(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / (total_steps - warmup)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    if config.schedule == "warmup":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(warmup, 1)))
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return None
