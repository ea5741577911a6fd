"""``adamw8bit``: train with AdamW whose moments are kept in 8 bits (:class:`.optimizer.AdamW8bit`).

The trick supplies the run's optimizer through the ``make_optimizer`` hook, with the run's own
settings (``train.lr``, ``train.betas``, ``train.weight_decay``), so it replaces the trainer's
float32 AdamW and keeps its schedule, clipping and checkpoints. ``backend``:

- ``torch`` (default): this package's implementation, on any device;
- ``bitsandbytes``: ``bitsandbytes.optim.AdamW8bit`` (its own kernels and block size, 256);
  an error when bitsandbytes is not installed;
- ``auto``: bitsandbytes when it is installed and the parameters are on a CUDA device, else torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, field, ge, one_of, spec

from ..trick import Trick
from .optimizer import AdamW8bit
from .quantization import DEFAULT_BLOCK_SIZE

__all__ = ["BACKENDS", "AdamW8bitSpec", "AdamW8bitTrick", "bitsandbytes_available"]

BACKENDS = ("torch", "bitsandbytes", "auto")


@spec
class AdamW8bitSpec:
    """Options of ``adamw8bit`` (rate, betas and weight decay are the run's)."""

    backend: str = field(default="torch", validator=one_of(*BACKENDS), doc="torch, bitsandbytes, or auto")
    block_size: int = field(
        default=DEFAULT_BLOCK_SIZE, validator=ge(16), doc="entries per quantisation block (torch backend)"
    )
    min_8bit_size: int = field(default=4096, validator=ge(0), doc="parameters with fewer entries keep float32 moments")
    eps: float = field(default=1e-8, validator=ge(0.0), doc="ε added to the root of the second moment")


def bitsandbytes_available() -> bool:
    """Whether bitsandbytes imports here."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # an import error, or a broken native library
        return False
    return True


class AdamW8bitTrick(Trick):
    """Supplies an 8-bit AdamW as the run's optimizer."""

    name = "adamw8bit"
    spec_cls = AdamW8bitSpec
    spec: AdamW8bitSpec

    def __init__(self, spec: AdamW8bitSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        if self.spec.backend == "bitsandbytes" and self.spec.block_size != DEFAULT_BLOCK_SIZE:
            raise SpecError(f"{self.name}.block_size", "bitsandbytes uses its own block size; leave it at 256")

    def backend_for(self, parameters: list[torch.Tensor]) -> str:
        """The backend the optimizer of ``parameters`` uses."""
        backend = self.spec.backend
        if backend == "auto":
            on_cuda = bool(parameters) and all(p.device.type == "cuda" for p in parameters)
            return "bitsandbytes" if on_cuda and bitsandbytes_available() else "torch"
        if backend == "bitsandbytes" and not bitsandbytes_available():
            raise SpecError(f"{self.name}.backend", "bitsandbytes is not installed (pip install bitsandbytes)")
        return backend

    def make(self, parameters: list[torch.Tensor], lr: float, betas: tuple[float, float], weight_decay: float) -> Any:
        """The optimizer for ``parameters`` with these settings."""
        s = self.spec
        if self.backend_for(parameters) == "bitsandbytes":
            import bitsandbytes

            return bitsandbytes.optim.AdamW8bit(
                parameters, lr=lr, betas=betas, eps=s.eps, weight_decay=weight_decay, min_8bit_size=s.min_8bit_size
            )
        return AdamW8bit(
            parameters,
            lr=lr,
            betas=betas,
            eps=s.eps,
            weight_decay=weight_decay,
            block_size=s.block_size,
            min_8bit_size=s.min_8bit_size,
        )

    @hookimpl
    def make_optimizer(self, trainer: Any, parameters: list[Any]) -> Any:
        config = trainer.config
        chosen = getattr(config, "optimizer", "adamw")
        if chosen != "adamw":
            raise SpecError("train.optimizer", f"is {chosen!r}, but adamw8bit supplies the optimizer (AdamW)")
        return self.make(list(parameters), lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
