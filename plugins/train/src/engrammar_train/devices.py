"""Devices, precision and processes come from Lightning Fabric: one :class:`~lightning_fabric.Fabric`
per run, made from the config's ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and
``precision``.

The loop calls the model itself rather than Fabric's module wrapper (so a recurrent state keeps its
dtype between chunks) and therefore casts inputs to the parameters' dtype under a ``*-true``
precision; mixed precisions run the forward passes under :meth:`Fabric.autocast`.
"""

from __future__ import annotations

from typing import Any

import torch
from engrammar.spec import SpecError

from .config import TrainConfig

__all__ = ["fabric_precision", "input_dtype", "make_fabric", "resolve_device", "shards_gradients"]

_SHORT = {"32": "32-true", "64": "64-true"}
_TRUE_DTYPES = {"64-true": torch.float64, "bf16-true": torch.bfloat16, "16-true": torch.float16}


def fabric_precision(config: TrainConfig) -> str:
    return _SHORT.get(config.precision, config.precision)


def input_dtype(config: TrainConfig) -> torch.dtype | None:
    """The dtype floating inputs are cast to (the parameters' dtype), or None to leave them."""
    return _TRUE_DTYPES.get(fabric_precision(config))


def shards_gradients(config: TrainConfig) -> bool:
    """True when the strategy synchronises (and shards) gradients itself: FSDP."""
    return config.strategy == "fsdp"


def _devices(value: int | str) -> Any:
    if isinstance(value, int) or value == "auto":
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text  # "0,1" or "1,": device indices, as Fabric reads them


def make_fabric(config: TrainConfig) -> Any:
    """A Fabric for the config; errors name the setting (``train.strategy: ...``)."""
    from lightning_fabric import Fabric

    on_cpu = config.accelerator == "cpu" or (config.accelerator == "auto" and not torch.cuda.is_available())
    if config.precision == "16-mixed" and on_cpu:
        raise SpecError("train.precision", "16-mixed needs a GPU (its gradient scaler); use bf16-mixed on the CPU")
    try:
        fabric = Fabric(
            accelerator=config.accelerator,
            devices=_devices(config.devices),
            strategy=config.strategy,
            num_nodes=config.num_nodes,
            precision=fabric_precision(config),  # type: ignore[arg-type]
        )
    except (ValueError, RuntimeError, TypeError, ImportError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        setting = "accelerator" if isinstance(err, ImportError) else _setting_named_in(message)
        raise SpecError(f"train.{setting}", message) from None
    return fabric


def _setting_named_in(message: str) -> str:
    lowered = message.lower()
    for setting in ("precision", "strategy", "num_nodes", "accelerator", "devices"):
        if setting.replace("_", "") in lowered.replace("_", "").replace(" ", ""):
            return setting
    return "devices"


def resolve_device(name: str) -> torch.device:
    """One device for evaluation: ``auto`` is the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SpecError("device", f"not a device: {name!r} (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("device", "cuda was asked for but no CUDA device is available")
    return device
