"""Optimizer, learning-rate schedule and device, made from a :class:`TrainConfig`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from engrammar.spec import SpecError
from torch import nn

from .config import TrainConfig

__all__ = ["make_optimizer", "make_scheduler", "resolve_device"]


def make_optimizer(
    parameters: Iterable[nn.Parameter] | Iterable[dict[str, Any]], config: TrainConfig
) -> torch.optim.Optimizer:
    """AdamW (default), Adam or SGD with momentum, with the config's rate and weight decay;
    ``parameters`` may be parameter groups (:func:`.param_groups.optimizer_groups`)."""
    given = list(parameters)
    params: list[Any] = (
        given if given and isinstance(given[0], dict) else [p for p in given if p.requires_grad]  # type: ignore[union-attr]
    )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None for a constant rate; OneCycleLR (warm-up then cosine annealing) or cosine annealing over
    ``config.steps``. Stepped once per optimizer step."""
    if config.schedule == "onecycle":
        if config.warmup_fraction * config.steps < 2:
            raise SpecError(
                "train.warmup_fraction",
                f"a onecycle warm-up of {config.warmup_fraction} x {config.steps} steps is under 2 steps; "
                "train longer or raise warmup_fraction",
            )
        peaks = [group["lr"] for group in optimizer.param_groups]  # lr, or lr * lr_scale per group
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peaks, total_steps=config.steps, pct_start=config.warmup_fraction
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    return None


def resolve_device(name: str) -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SpecError("train.device", f"not a device: {name!r} (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("train.device", "cuda was asked for but no CUDA device is available")
    return device
