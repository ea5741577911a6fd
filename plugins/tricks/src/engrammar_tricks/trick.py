"""What every trick shares: its options as a spec, its state in checkpoints, its own random numbers.

A trick is a plain object implementing training hooks of :mod:`engrammar.hooks` with ``@hookimpl``
(the trainer of ``engrammar-train`` calls them; so can any loop). Its constructor takes its options
as a spec or as keyword fields, checked with errors that name the option
(``ghost_gradients.persistence: must be < 1.0, got 1.5``). Whatever a trick must remember between
steps goes into checkpoints under ``checkpoint["tricks"][name]`` (tensors and plain data only), so a
resumed run continues exactly; tricks that draw random numbers draw them from a generator of their
own, seeded from the run's seed and saved with the rest.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, structure, unstructure
from torch import Tensor, nn

__all__ = ["CHECKPOINT_KEY", "Generators", "Trick", "log_metrics", "trained_parameters", "unwrap_optimizer"]

#: checkpoint entry holding every trick's state, by trick name
CHECKPOINT_KEY = "tricks"


class Trick:
    """Base class of the tricks. Subclasses set ``name`` (their registry name) and ``spec_cls``,
    implement hooks, and override :meth:`state` / :meth:`load_state` when they keep state."""

    name: ClassVar[str] = "trick"
    spec_cls: ClassVar[type] = object

    def __init__(self, spec: Any = None, **fields: Any) -> None:
        if spec is None or isinstance(spec, Mapping):
            spec = structure({**dict(spec or {}), **fields}, self.spec_cls, path=self.name)
        elif fields:
            spec = structure({**unstructure(spec), **fields}, self.spec_cls, path=self.name)
        if not isinstance(spec, self.spec_cls):
            raise TypeError(f"{self.name} takes a {self.spec_cls.__name__}, got {type(spec).__name__}")
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # ---- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What this trick must remember across a checkpoint (tensors and plain data)."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state` returned."""

    @hookimpl
    def on_checkpoint_save(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.setdefault(CHECKPOINT_KEY, {})
        if self.name in saved:
            raise SpecError(self.name, "enabled twice in one run; enable each trick once (with all its options)")
        saved[self.name] = self.state()

    @hookimpl
    def on_checkpoint_load(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        saved = (checkpoint.get(CHECKPOINT_KEY) or {}).get(self.name)
        if saved is None:
            warnings.warn(
                f"{self.name}: the checkpoint holds no state of this trick (it was trained without it); "
                "the trick starts afresh from here",
                stacklevel=2,
            )
            return
        self.load_state(saved)


def trained_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` for every parameter that trains (``requires_grad``)."""
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            yield name, parameter


def unwrap_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The optimizer itself, out of a wrapper (Lightning Fabric's keeps it as ``.optimizer``)."""
    while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer
    return optimizer  # type: ignore[no-any-return]


def log_metrics(trainer: Any, values: Mapping[str, float]) -> None:
    """Hand ``values`` to the run's metrics log (``split: "tricks"``), at the step just taken."""
    record = {"step": int(trainer.step) + 1, "split": "tricks", **values}
    log = getattr(trainer, "log", None)
    if callable(log):
        log(record)


class Generators:
    """A trick's own random numbers: one ``torch.Generator`` per device, seeded from the run's seed
    and the trick's name (so tricks do not share a stream, and the data's stream is untouched)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seed: int | None = None
        self._by_device: dict[str, torch.Generator] = {}

    def start(self, seed: int) -> None:
        """Seed from the run's seed (on the run's start; a restored state wins)."""
        if self.seed is None:
            self.seed = (int(seed) * 1_000_003 + zlib.crc32(self.name.encode())) % (2**63)

    def on(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._by_device:
            if self.seed is None:
                raise RuntimeError(f"{self.name}: random numbers drawn before the run started")
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed + len(self._by_device))
            self._by_device[key] = generator
        return self._by_device[key]

    def normal_like(self, tensor: Tensor) -> Tensor:
        """Standard normal numbers shaped like ``tensor``, on its device and in its dtype."""
        return torch.randn(tensor.shape, generator=self.on(tensor.device), device=tensor.device, dtype=tensor.dtype)

    def state(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "devices": list(self._by_device),
            "states": [g.get_state() for g in self._by_device.values()],
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.seed = state["seed"]
        self._by_device = {}
        for device, saved in zip(state["devices"], state["states"]):
            generator = torch.Generator(device=device)
            generator.set_state(saved.cpu())
            self._by_device[device] = generator
