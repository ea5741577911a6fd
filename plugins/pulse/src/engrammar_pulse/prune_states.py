"""``prune_states``: prune and allocate the state slots of every :class:`StateManager` during training.

Every ``every`` optimizer steps, each state manager in the model (the ``pulse`` memory's, a
:class:`SimplePulse`'s, your own model's) drops its active slots whose learned importance is below
its ``prune_threshold`` (the most important slot always stays), then re-activates up to
``allocate`` inactive slots with fresh vectors. Parameters never change shape: the optimizer keeps
training the same tensors, and the trick zeroes the optimizer's moments of every pruned and every
allocated slot, so a re-allocated slot starts like a new parameter. Which slots are active is a
buffer of the model, saved in its checkpoints; the trick saves its history and random numbers.

Each round logs ``prune_states.pruned``, ``prune_states.allocated`` and ``prune_states.active``
(summed over the managers) and appends ``[step, pruned, allocated, active]`` to :attr:`history`.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, field, ge, spec, structure, unstructure
from torch import nn

from .state_manager import StateManager

__all__ = ["PruneStates", "PruneStatesSpec", "prune_and_allocate"]

#: checkpoint entry holding every trick's state, by trick name (as engrammar-tricks does)
CHECKPOINT_KEY = "tricks"


@spec
class PruneStatesSpec:
    """Options of ``prune_states``."""

    every: int = field(default=100, validator=ge(1), doc="optimizer steps between pruning rounds")
    allocate: int = field(default=0, validator=ge(0), doc="inactive slots each manager re-activates after pruning")


def prune_and_allocate(
    model: nn.Module, allocate: int, optimizer: Any = None, generator: torch.Generator | None = None
) -> tuple[int, int, int]:
    """One round on every state manager of ``model``: ``(pruned, allocated, active)`` summed over them."""
    managers = [module for module in model.modules() if isinstance(module, StateManager)]
    if not managers:
        raise SpecError("prune_states", "the model has no StateManager (no pulse memory or PULSE model) to prune")
    pruned = allocated = active = 0
    for manager in managers:
        pruned += manager.prune_low_importance_states(optimizer)
        allocated += manager.allocate_states(allocate, optimizer, generator=generator)
        active += manager.get_active_count()
    return pruned, allocated, active


class PruneStates:
    """Prunes state slots of low learned importance and allocates fresh ones every few steps."""

    name = "prune_states"
    spec_cls = PruneStatesSpec

    def __init__(self, spec: PruneStatesSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        if spec is None or isinstance(spec, Mapping):
            spec = structure({**dict(spec or {}), **fields}, PruneStatesSpec, path=self.name)
        elif fields:
            spec = structure({**unstructure(spec), **fields}, PruneStatesSpec, path=self.name)
        self.spec: PruneStatesSpec = spec
        #: one ``[step, pruned, allocated, active]`` per round
        self.history: list[list[int]] = []
        self.seed: int | None = None
        self.generator = torch.Generator()

    def __repr__(self) -> str:
        return f"PruneStates({self.spec!r})"

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        if self.seed is None:  # a restored state wins
            self.seed = (int(trainer.config.seed) * 1_000_003 + zlib.crc32(self.name.encode())) % (2**63)
            self.generator.manual_seed(self.seed)

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        step = int(trainer.step) + 1
        if step % self.spec.every:
            return
        pruned, allocated, active = prune_and_allocate(trainer.model, self.spec.allocate, optimizer, self.generator)
        self.history.append([step, pruned, allocated, active])
        log = getattr(trainer, "log", None)
        if callable(log):
            log(
                {
                    "step": step,
                    "split": "tricks",
                    f"{self.name}.pruned": pruned,
                    f"{self.name}.allocated": allocated,
                    f"{self.name}.active": active,
                }
            )

    @hookimpl
    def on_checkpoint_save(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.setdefault(CHECKPOINT_KEY, {})
        if self.name in saved:
            raise SpecError(self.name, "enabled twice in one run; enable each trick once (with all its options)")
        saved[self.name] = {
            "history": [list(entry) for entry in self.history],
            "seed": self.seed,
            "generator": self.generator.get_state(),
        }

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
        self.history = [list(entry) for entry in saved["history"]]
        self.seed = saved["seed"]
        self.generator.set_state(saved["generator"].cpu())
