"""``darwinian_regeneration``: weak weights are re-initialised rather than pruned, as in RealNet's
documentation ("Darwinian revive").

Every ``every`` optimizer steps, in every weight (every trained parameter with two or more
dimensions; biases and gains are left alone), the entries that count as dead are drawn afresh from
the parameter's own initialisation scheme::

    threshold mode:   dead = |w| < threshold
    percentage mode:  dead = the ⌊percentage · n⌋ entries of smallest |w| in each weight of n entries

"The parameter's own scheme" is what the model's constructor does: the model is built again from
its spec (a wiring, a component; a plain ``nn.Module`` is copied and its modules'
``reset_parameters`` called) and the dead entries take the new model's values. The optimizer's
moments of those entries are zeroed. Each regeneration reports ``(revived, total)`` — entries
re-initialised and entries considered — as the metrics ``darwinian_regeneration.revived`` and
``darwinian_regeneration.total`` of the run's log, and keeps the list in :attr:`history`. Random
numbers come from the trick's own generator (saved in checkpoints).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError, between, field, ge, gt, spec
from torch import Tensor, nn

from .optimizer_state import reset_entries
from .trick import Generators, Trick, log_metrics, trained_parameters

__all__ = ["DarwinianRegeneration", "DarwinianRegenerationSpec", "dead_entries", "initial_values"]


@spec
class DarwinianRegenerationSpec:
    """Options of ``darwinian_regeneration`` (give ``threshold`` or ``percentage``)."""

    threshold: float | None = field(default=None, validator=gt(0.0), doc="re-initialise entries with |w| below this")
    percentage: float | None = field(
        default=None,
        validator=between(0.0, 1.0, inclusive=False),
        doc="or: this fraction of each weight, smallest |w| first",
    )
    every: int = field(default=100, validator=ge(1), doc="optimizer steps between regenerations")

    def __attrs_post_init__(self) -> None:
        if (self.threshold is None) == (self.percentage is None):
            raise ValueError("give either threshold or percentage (one of them)")


def dead_entries(weight: Tensor, threshold: float | None, percentage: float | None) -> Tensor:
    """Bool mask of the entries to re-initialise."""
    magnitude = weight.detach().abs()
    if threshold is not None:
        return magnitude < threshold
    count = int(percentage * weight.numel())  # type: ignore[operator]
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    if count > 0:
        mask[torch.topk(magnitude.flatten(), count, largest=False).indices] = True
    return mask.view(weight.shape)


def initial_values(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """Freshly initialised values of ``model``'s parameters, by name, drawn with ``seed`` (the
    global random generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        spec = getattr(model, "spec", None)
        if spec is not None and hasattr(type(model), "spec_cls"):
            fresh = type(model)(spec)
        else:
            fresh = copy.deepcopy(model).cpu()
            owners = {}
            for module in fresh.modules():
                for name, _ in module.named_parameters(recurse=False):
                    owners[id(getattr(module, name))] = module
            for name, parameter in fresh.named_parameters():
                owner = owners[id(parameter)]
                if not callable(getattr(owner, "reset_parameters", None)):
                    raise SpecError(
                        "darwinian_regeneration",
                        f"cannot re-initialise {name}: its module {type(owner).__name__} has no reset_parameters "
                        "(and the model has no spec to be built again from)",
                    )
            for module in fresh.modules():
                if callable(getattr(module, "reset_parameters", None)):
                    module.reset_parameters()
    return {name: parameter.detach() for name, parameter in fresh.named_parameters()}


class DarwinianRegeneration(Trick):
    """Re-initialises the weakest weights every few steps and resets their optimizer moments."""

    name = "darwinian_regeneration"
    spec_cls = DarwinianRegenerationSpec
    spec: DarwinianRegenerationSpec

    def __init__(self, spec: DarwinianRegenerationSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.generators = Generators(self.name)
        #: one ``[step, revived, total]`` per regeneration
        self.history: list[list[int]] = []

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        self.generators.start(trainer.config.seed)

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        step = int(trainer.step) + 1
        if step % self.spec.every:
            return
        revived, total = self.regenerate(trainer.model, optimizer)
        self.history.append([step, revived, total])
        log_metrics(trainer, {f"{self.name}.revived": revived, f"{self.name}.total": total})

    def regenerate(self, model: nn.Module, optimizer: Any = None) -> tuple[int, int]:
        """Re-initialise the dead entries of every weight of ``model`` now; returns ``(revived, total)``."""
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generators.on(torch.device("cpu"))))
        fresh = initial_values(model, seed)
        revived = total = 0
        with torch.no_grad():
            for name, weight in trained_parameters(model):
                if weight.dim() < 2:
                    continue
                mask = dead_entries(weight, self.spec.threshold, self.spec.percentage)
                weight[mask] = fresh[name].to(device=weight.device, dtype=weight.dtype)[mask]
                if optimizer is not None:
                    reset_entries(optimizer, weight, mask, path=f"{self.name} ({name})")
                revived += int(mask.sum())
                total += weight.numel()
        return revived, total

    def state(self) -> dict[str, Any]:
        return {"generators": self.generators.state(), "history": [list(entry) for entry in self.history]}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state(state["generators"])
        self.history = [list(entry) for entry in state["history"]]
