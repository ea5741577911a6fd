"""Routers: components that weigh E choices (experts, memories, state slots) at every time step.

A router is an ordinary component under the state protocol whose output is a weight per choice::

    weights, state = router(x, state)        # x: (B, T, in_features) -> weights: (B, T, E)

- ``out_features`` is E, the number of choices. The spec field that holds it is named by the
  class attribute ``choices_field`` (``"num_experts"`` for :class:`RouterSpec`); ``moe`` fills it
  in with its number of experts, and the router's ``in_features`` with the width of its
  ``router`` input.
- Weights are non-negative; a choice left out has weight exactly 0. They need not sum to 1
  (top-k weights keep the full softmax's probabilities, a token over an expert's capacity gets 0
  for it). ``moe`` mixes ``sum_e weights_e * expert_e``.
- Auxiliary losses (load balancing) and metrics go through :func:`engrammar.report_loss` and
  :func:`engrammar.report_metric`; when a recording keeps traces, a router reports its weights as
  the trace entry ``"weights"`` (see :func:`report_routing`), which :meth:`Router.plot_trace` draws.
- A router may keep state (a running count of each expert's load, a position), declared as any
  component's.

Subclass :class:`Router` (and :class:`RouterSpec` for its spec) and register it in the
``engrammar.routers`` entry-point group; ``moe`` then uses it by name
(``router: {use: my_router, in: ctrl}`` in a wiring).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from torch import Tensor

from .component import Component
from .recorder import is_tracing, report_trace
from .spec import ComponentSpec, field, ge, spec

__all__ = ["Router", "RouterSpec", "report_routing"]


@spec
class RouterSpec(ComponentSpec):
    """Fields every router with ``choices_field = "num_experts"`` has."""

    num_experts: int = field(validator=ge(1), doc="E, the number of choices weighed (filled in by moe)")


class Router(Component):
    """Base class of routers: (B, T, in_features) -> non-negative weights over E choices (B, T, E)."""

    #: the spec field that holds E (``moe`` fills it in)
    choices_field: ClassVar[str] = "num_experts"

    @property
    def out_features(self) -> int:
        return int(getattr(self.spec, self.choices_field))

    def plot_trace(
        self, trace: Mapping[str, Tensor], out_dir: str | Path, *, sample: int = 0, prefix: str = "router"
    ) -> list[Path]:
        """The routing plots of a trace this router reported (``record.trace(router)``); see
        :func:`engrammar.nn.routing_plots.plot_routing`."""
        from .nn.routing_plots import plot_routing

        return plot_routing(trace, out_dir, sample=sample, prefix=prefix)


def report_routing(module: Component, weights: Tensor, *, sequence: bool) -> None:
    """Report routing ``weights`` as ``module``'s trace entry ``"weights"`` when a recording keeps
    traces: one step (B, E), or with ``sequence=True`` several steps (B, t, E)."""
    if is_tracing(module):
        report_trace(module, {"weights": weights}, sequence=sequence)
