"""What the tests share: small data, a quiet Lightning Trainer, parameters as plain tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch


def regression(samples: int = 24, steps: int = 6, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """(N, T, 3) sequences and per-step targets (N, T, 2) that need memory (a running sum)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, steps, 3, generator=generator, dtype=dtype)
    y = torch.stack([x.cumsum(1)[..., 0] / 2, x[..., 1] * x[..., 2]], dim=-1)
    return x, y


def quiet_trainer(root: Path | str, **options: Any) -> pl.Trainer:
    """A CPU Lightning Trainer without progress bar, model summary or logger folders."""
    settings: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "default_root_dir": str(root),
        **options,
    }
    return pl.Trainer(**settings)


def parameters(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
