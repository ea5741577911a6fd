"""``neurogenesis``: a node of the model grows during training, as in RealNet's documentation.

When the trigger fires — every ``every`` optimizer steps, or when the watched metric has not improved
for ``patience`` evaluations — the node ``node`` (by default the first node of the wiring that can
grow) gains ``amount`` hidden units through the growth protocol of :mod:`engrammar.nn.growth`:

- the new units' incoming weights are zero and their outgoing weights small random numbers (normal,
  ``outgoing_std``), so the model computes what it computed before and gradients reach the new units;
- every node reading the grown one is widened the same way (its other parameters are untouched);
- the optimizer follows: the grown parameters take the old ones' places, and their moments are
  carried over (old entries keep their momentum; new entries start at zero);
- the model's spec records the new width, so its checkpoints hold the grown spec (``engrammar eval``
  rebuilds the grown model) and a resumed run grows a fresh model to match before loading.

Components opt in by implementing ``grow(amount)`` (``lstm``, ``gru`` and ``mlp`` do); asking a node
that does not to grow is an error naming it. A model that is not a wiring but implements ``grow``
itself (RealNet's network) grows as a whole and in place: the grown module's parameters, buffers
and attributes replace the model's own, so every reference to the model sees the larger one. One process only (a data-parallel wrapper holds the
parameters it was set up with). Each growth is logged (``neurogenesis.units``: units added so far,
``neurogenesis.parameters``: the model's parameter count) and listed in :attr:`events`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from engrammar.hooks import hookimpl
from engrammar.nn.growth import can_grow, grow_node
from engrammar.spec import SpecError, field, ge, spec, unstructure

from .optimizer_state import migrate_parameters
from .trick import CHECKPOINT_KEY, Generators, Trick, log_metrics

__all__ = ["WHOLE_MODEL", "Neurogenesis", "NeurogenesisSpec"]

#: the ``node`` of a growth event where the model itself (not a node of a wiring) grew
WHOLE_MODEL = ""


@spec
class NeurogenesisSpec:
    """Options of ``neurogenesis`` (give ``every`` or ``patience``)."""

    amount: int = field(default=1, validator=ge(1), doc="hidden units added per growth")
    node: str | None = field(default=None, doc="the node that grows; None: the first node that can")
    every: int | None = field(default=None, validator=ge(1), doc="grow every this many optimizer steps")
    patience: int | None = field(
        default=None, validator=ge(1), doc="or: grow when the metric has not improved for this many evaluations"
    )
    metric: str | None = field(default=None, doc="the evaluation metric watched by patience; None: the task's")
    min_delta: float = field(default=0.0, validator=ge(0.0), doc="the least change that counts as an improvement")
    outgoing_std: float = field(default=0.01, validator=ge(0.0), doc="std of the new units' outgoing weights")
    max_growths: int | None = field(default=None, validator=ge(1), doc="stop growing after this many growths")

    def __attrs_post_init__(self) -> None:
        if (self.every is None) == (self.patience is None):
            raise ValueError("give either every or patience (one trigger)")


class Neurogenesis(Trick):
    """Grows a node's hidden width during training, keeping the function and the optimizer's state."""

    name = "neurogenesis"
    spec_cls = NeurogenesisSpec
    spec: NeurogenesisSpec

    def __init__(self, spec: NeurogenesisSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.generators = Generators(self.name)
        #: one ``{"step", "node", "amount"}`` per growth
        self.events: list[dict[str, Any]] = []
        self.best: float | None = None
        self.since_best = 0

    # ---- triggers ------------------------------------------------------------------------------

    @hookimpl
    def on_train_start(self, trainer: Any) -> None:
        self.generators.start(trainer.config.seed)
        if int(getattr(trainer, "world_size", 1)) > 1:
            raise SpecError(self.name, "grows the model of one process only; train with one device")
        self.node_of(trainer.model)  # a node that cannot grow is named now, not at the first growth

    @hookimpl
    def after_optimizer_step(self, trainer: Any, optimizer: Any) -> None:
        every = self.spec.every
        if every is not None and (int(trainer.step) + 1) % every == 0:
            self.grow(trainer, step=int(trainer.step) + 1)

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        if self.spec.patience is None:
            return
        name = self.spec.metric or trainer.task.metric_name
        if name not in metrics:
            raise SpecError(f"{self.name}.metric", f"no metric {name!r} in the evaluation ({', '.join(metrics)})")
        value = float(metrics[name])
        higher = bool(getattr(trainer.task, "higher_is_better", False)) and name == trainer.task.metric_name
        score = value if higher else -value
        if self.best is None or score > self.best + self.spec.min_delta:
            self.best, self.since_best = score, 0
            return
        self.since_best += 1
        if self.since_best >= self.spec.patience:
            self.grow(trainer, step=int(trainer.step))
            self.best, self.since_best = score, 0  # patience starts again for the grown model

    # ---- growing -------------------------------------------------------------------------------

    def node_of(self, model: Any) -> str:
        """The node that grows: ``node``, or the first node of the wiring that can; ``""`` for a
        model that is not a wiring and grows as a whole."""
        nodes = getattr(model, "nodes", None)
        if nodes is None and can_grow(model) and self.spec.node in (None, WHOLE_MODEL):
            return WHOLE_MODEL
        if nodes is None:
            raise SpecError(self.name, f"grows a node of a wiring; the model is a {type(model).__name__}")
        if self.spec.node is not None:
            name = self.spec.node.removeprefix("nodes.")
            if name not in nodes:
                raise SpecError(f"{self.name}.node", f"no node named {name!r} (nodes: {', '.join(nodes)})")
            if not can_grow(nodes[name]):
                use = model.spec.nodes[name].use
                raise SpecError(
                    f"{self.name}.node",
                    f"nodes.{name} ({use!r}, {type(nodes[name]).__name__}) cannot grow: it does not implement "
                    "grow(amount) (the growth protocol, docs/protocol.md)",
                )
            return name
        for name, module in nodes.items():
            if can_grow(module):
                return name
        raise SpecError(self.name, f"no node of the wiring can grow (nodes: {', '.join(nodes)})")

    def grow(self, trainer: Any, step: int, amount: int | None = None) -> None:
        """Grow now (unless ``max_growths`` is reached) by ``amount`` units (default: the spec's):
        model, optimizer and recorded spec."""
        if self.spec.max_growths is not None and len(self.events) >= self.spec.max_growths:
            return
        amount = self.spec.amount if amount is None else int(amount)
        if amount < 1:
            raise SpecError(f"{self.name}.amount", f"must be >= 1, got {amount}")
        node = self.node_of(trainer.model)
        self._apply(trainer, node, amount, self.generators.on(torch.device("cpu")))
        self.events.append({"step": step, "node": node, "amount": amount})
        units = sum(int(event["amount"]) for event in self.events)
        parameters = sum(p.numel() for p in trainer.model.parameters())
        log_metrics(trainer, {f"{self.name}.units": units, f"{self.name}.parameters": parameters})

    def _apply(self, trainer: Any, node: str, amount: int, generator: torch.Generator) -> None:
        if node == WHOLE_MODEL:
            model = trainer.model
            growth = model.grow(amount, generator=generator, outgoing_std=self.spec.outgoing_std)
            if growth.component is not model:
                # In place: whoever holds the model (the user, the trainer) now holds the grown one.
                model.__dict__.update(growth.component.__dict__)
            migrate_parameters(trainer.optimizer, growth.resized, path=self.name)
            return
        growth = grow_node(trainer.model, node, amount, generator=generator, outgoing_std=self.spec.outgoing_std)
        migrate_parameters(trainer.optimizer, growth.resized, path=self.name)
        recipe = getattr(trainer, "recipe", None)
        if isinstance(recipe, dict) and "nodes" in recipe:  # the spec checkpoints record
            trainer.recipe = unstructure(trainer.model.spec)

    @hookimpl
    def before_checkpoint_restore(self, trainer: Any, checkpoint: dict[str, Any]) -> None:
        saved = (checkpoint.get(CHECKPOINT_KEY) or {}).get(self.name)
        if saved is None:
            return
        # Grow the fresh model as the saved one grew; its weights are then loaded over these.
        scratch = torch.Generator().manual_seed(0)
        for event in saved["events"][len(self.events) :]:
            self._apply(trainer, str(event["node"]), int(event["amount"]), scratch)
            self.events.append(dict(event))

    def state(self) -> dict[str, Any]:
        best = self.best if self.best is None or math.isfinite(self.best) else None
        return {
            "generators": self.generators.state(),
            "events": [dict(event) for event in self.events],
            "best": best,
            "since_best": self.since_best,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.generators.load_state(state["generators"])
        self.events = [dict(event) for event in state["events"]]
        self.best = state["best"]
        self.since_best = int(state["since_best"])
