"""``moe``: a mixture of experts gating between the outputs of named nodes.

    mix: {use: moe, router: ctrl, experts: [mem_a, mem_b], top_k: 1}                  # built-in router
    mix: {use: moe, router: {use: topk_router, in: ctrl, top_k: 1}, experts: [mem_a, mem_b]}

``router`` is the input the routing reads. Written as a reference (or a list of them) it feeds the
built-in router; written as a mapping it names a router from the registry (``use``), its input
(``in``) and the router's own spec fields (the router's ``in_features`` and number of choices are
filled in by the mixture). In Python the same router is the spec field ``router``::

    build("moe", in_features=7, input_sizes=(3, 2, 2), router={"use": "topk_router", "top_k": 1})

The built-in router is a linear map of the router input, p = softmax(W router_t + b). With
``top_k`` unset the output is the soft mixture sum_e p_e expert_e; with ``top_k = k`` only the k
most probable experts count, each with its probability p_e (not renormalised, so the router keeps a
gradient even for k = 1, as in the Switch Transformer). A router from the registry gives the
weights w (B, T, E) itself (see :mod:`engrammar.router`) and the output is sum_e w_e expert_e.

The experts are nodes of the graph and all of them run at every step: a memory must see every
step to keep its state, so routing chooses how their outputs are mixed, not which of them run.

Load balancing of the built-in router (Switch Transformer): over the N tokens routed while a
recording is open, f_e is the fraction of routing weight assigned to expert e (top-k: the share of
the k selections; soft: the mean probability, held constant) and P_e the mean probability; the loss
is ``balance_weight * E * sum_e f_e P_e``, 1 * balance_weight when the load is uniform. It is
reported as ``load_balance`` through :func:`engrammar.report_loss`, pooled over every token of the
recording (:class:`engrammar.Pooled`), so a whole sequence run layer-major, the same sequence
stepped inside a graph's loop, and a run of public ``step`` calls inside one recording all give
one loss over the same tokens. With no recording open nothing is computed or kept. A router from
the registry reports its own losses (``nodes.mix.router.load_balance``).

When a recording keeps traces, the built-in router's weights are this node's trace ``"weights"``
(B, T, E), drawn by :meth:`MixtureOfExperts.plot_trace`; a registry router traces itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from ..component import Component
from ..recorder import Pooled, is_recording, report_loss
from ..registry import RegistryError, load
from ..router import report_routing
from ..spec import SpecError, _RuleBroken, field, ge, spec, structure
from ..state import State
from ..wiring.ports import MANY, ONE, MultiInputSpec

#: the built-in router's load-balancing weight when the spec leaves it unset
DEFAULT_BALANCE_WEIGHT = 0.01


def _check_router(instance: Any, attribute: Any, value: Any) -> None:
    if value is None:
        return
    use = value.get("use") if isinstance(value, Mapping) else None
    if not isinstance(use, str) or not use.strip():
        raise _RuleBroken(
            "router",
            f"must name a router from the registry as use: <name> (engrammar list routers), got {value!r}",
        )


@spec
class MixtureOfExpertsSpec(MultiInputSpec):
    """``input_sizes``: (router width, then one width per expert, all equal); inferred in a wiring."""

    top_k: int | None = field(
        default=None, validator=ge(1), doc="built-in router: experts kept per step; unset: soft mixture of all"
    )
    balance_weight: float | None = field(
        default=None,
        validator=ge(0.0),
        doc=f"built-in router: weight of the load-balancing loss (unset: {DEFAULT_BALANCE_WEIGHT})",
    )
    router: dict[str, Any] | None = field(
        default=None,
        validator=_check_router,
        doc="a router from the registry, {use: <name>, <its fields>}; unset: the built-in linear router",
        hash=False,
    )

    def __attrs_post_init__(self) -> None:
        sizes = self.input_sizes
        if self.router is not None:
            for name in ("top_k", "balance_weight"):
                if getattr(self, name) is not None:
                    raise _RuleBroken(
                        name,
                        f"belongs to the built-in router; the router {self.router['use']!r} takes its own "
                        f"fields inside router: (remove {name} here)",
                    )
        if sizes is None:
            if self.in_features is not None:
                raise ValueError("moe needs input_sizes (router width, then each expert's); a wiring infers it")
            return
        if len(sizes) < 2:
            raise ValueError(f"moe needs a router and at least one expert, got input_sizes {sizes!r}")
        if len(set(sizes[1:])) > 1:
            raise ValueError(f"the experts must have one width, got {sizes[1:]!r}")
        if self.top_k is not None and self.top_k > len(sizes) - 1:  # an error at the field: nodes.mix.top_k
            raise _RuleBroken("top_k", f"must be <= the number of experts ({len(sizes) - 1}), got {self.top_k}")


class MixtureOfExperts(Component):
    """Router-weighted mixture of expert outputs: (B, T, R + E * W), the router and E experts side by side -> (B, T, W)."""

    spec_cls = MixtureOfExpertsSpec
    spec: MixtureOfExpertsSpec
    input_ports: ClassVar[dict[str, str]] = {"router": ONE, "experts": MANY}
    same_width: ClassVar[tuple[str, ...]] = ("experts",)

    def __init__(self, spec: MixtureOfExpertsSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        sizes = self.spec.input_sizes
        assert sizes is not None  # the spec's check guarantees it once in_features is set
        self.router_features = sizes[0]
        self.num_experts = len(sizes) - 1
        self.width = sizes[1]
        self.router: nn.Module
        if self.spec.router is None:
            self.router = nn.Linear(self.router_features, self.num_experts)
        else:
            self.router = _registry_router(self.spec.router, self.router_features, self.num_experts)

    @property
    def out_features(self) -> int:
        return self.width

    @property
    def builtin_router(self) -> bool:
        """True when the mixture routes with its own linear router (no ``router`` in the spec)."""
        return self.spec.router is None

    @property
    def balance_weight(self) -> float:
        """The built-in router's load-balancing weight (the spec's, or the default)."""
        weight = self.spec.balance_weight
        return DEFAULT_BALANCE_WEIGHT if weight is None else weight

    # ---- state: a registry router's, if it has one --------------------------------------------

    def state_spec(self) -> dict[str, Any]:
        if self.builtin_router:
            return {}
        described = self.router.state_spec()  # type: ignore[operator]
        return {"router": described} if described else {}

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        if not self.state_spec():
            return {}
        device, dtype = self._placement(device, dtype)
        return {"router": self.router.init_state(batch_size, device=device, dtype=dtype)}  # type: ignore[operator]

    def reset_samples(self, state: State, mask: Tensor, dtype: torch.dtype | None = None) -> State:
        if "router" not in state:
            return state
        return {"router": self.router.reset_samples(state["router"], mask, dtype)}  # type: ignore[operator]

    # ---- routing ----------------------------------------------------------------------------

    def routing(self, router_input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Built-in router: mixing weights, probabilities and assignment shares, each (..., E)."""
        probabilities = torch.softmax(self.router(router_input), dim=-1)
        k = self.spec.top_k
        if k is None or k >= self.num_experts:
            return probabilities, probabilities, probabilities.detach()
        top = probabilities.topk(k, dim=-1)
        weights = torch.zeros_like(probabilities).scatter(-1, top.indices, top.values)
        share = torch.zeros_like(probabilities).scatter(-1, top.indices, 1.0 / k)
        return weights, probabilities, share

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        router_input = x[..., : self.router_features]
        experts = x[..., self.router_features :].unflatten(-1, (self.num_experts, self.width))
        return router_input, experts

    def _mix(self, x: Tensor) -> Tensor:
        """Built-in router: the mixture of one step (B, R + E * W) or a sequence (B, T, R + E * W)."""
        router_input, experts = self._split(x)
        weights, probabilities, share = self.routing(router_input)
        if is_recording(self):
            report_loss(self, "load_balance", self._balance_statistics(probabilities, share))
        report_routing(self, weights, sequence=x.dim() == 3)
        return (weights.unsqueeze(-1) * experts).sum(-2)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        if self.builtin_router:
            return self._mix(x_t), state
        router_input, experts = self._split(x_t)
        weights, router_state = self.router.step(router_input, state.get("router", {}))  # type: ignore[operator]
        return (weights.unsqueeze(-1) * experts).sum(-2), ({"router": router_state} if "router" in state else state)

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.builtin_router:
            return self._mix(x), state
        router_input, experts = self._split(x)
        weights, router_state = self.router(router_input, state.get("router", {}))
        return (weights.unsqueeze(-1) * experts).sum(-2), ({"router": router_state} if "router" in state else state)

    # ---- load balancing ---------------------------------------------------------------------

    def _balance_statistics(self, probabilities: Tensor, share: Tensor) -> Pooled:
        """Sums of probabilities and shares over the routed tokens (..., E), and their count."""
        probabilities = probabilities.reshape(-1, self.num_experts)
        share = share.reshape(-1, self.num_experts)
        return Pooled((probabilities.sum(0), share.sum(0), float(probabilities.shape[0])), self._balance_loss)

    def _balance_loss(self, probability_sum: Tensor, share_sum: Tensor, tokens: float) -> Tensor:
        """``balance_weight * E * sum_e f_e P_e`` from the pooled sums."""
        loss = self.num_experts * ((share_sum / tokens) * (probability_sum / tokens)).sum()
        return self.balance_weight * loss

    # ---- plots --------------------------------------------------------------------------------

    def plot_trace(
        self, trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "moe"
    ) -> list[Path]:
        """The routing plots of the built-in router's trace (``record.trace(mix)``); see
        :func:`engrammar.nn.routing_plots.plot_routing`."""
        from ..nn.routing_plots import plot_routing

        return plot_routing(trace, out_dir, sample=sample, prefix=prefix)


ROUTER_PATH = "MixtureOfExperts.router"


def _registry_router(data: Mapping[str, Any], router_width: int, num_experts: int) -> Component:
    """Build the router ``data`` names (``{use: name, **fields}``) for ``num_experts`` experts and a
    router input ``router_width`` wide; errors name their path under ``router``."""
    use = data["use"]
    try:
        cls = load(use)
    except RegistryError as err:
        raise SpecError(f"{ROUTER_PATH}.use", str(err)) from None
    spec_cls = getattr(cls, "spec_cls", None)
    if not (isinstance(cls, type) and issubclass(cls, Component)) or spec_cls is None:
        raise SpecError(f"{ROUTER_PATH}.use", f"{use!r} is not a component, so it cannot route")
    choices = getattr(cls, "choices_field", "num_experts")
    known = attrs.fields_dict(spec_cls)
    if choices not in known:
        raise SpecError(
            f"{ROUTER_PATH}.use",
            f"{use!r} is not a router: its spec has no {choices!r} field for the number of choices "
            "(a router derives from engrammar.Router and engrammar.RouterSpec)",
        )
    fields = {key: value for key, value in data.items() if key != "use"}
    for name, value, why in (
        ("in_features", router_width, "the width of the router input"),
        (choices, num_experts, "the number of experts"),
    ):
        if name in fields and fields[name] != value:
            raise SpecError(
                f"{ROUTER_PATH}.{name}", f"is {why}, {value}, filled in by moe; remove it (got {fields[name]!r})"
            )
        fields[name] = value
    router_spec = structure(fields, spec_cls, path=ROUTER_PATH)
    try:
        router = cls(router_spec)
    except SpecError as err:
        raise err.rerooted(cls.__name__, ROUTER_PATH) from None
    if router.out_features != num_experts:
        raise SpecError(
            f"{ROUTER_PATH}.use",
            f"{use!r} gives {router.out_features} weights per step for {num_experts} experts",
        )
    return router
