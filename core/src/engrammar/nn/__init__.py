"""Building blocks that several component families share: gate activations selectable by name
(with a straight-through Heaviside), weight initialisation schemes, and the ``Trace`` accumulator
in which a recording keeps what a component reports with ``engrammar.report_trace``.
:mod:`engrammar.nn.routing_plots` draws the routing of ``moe`` and of every router (matplotlib is
imported there only when a plot is made)."""

from .gates import GATE_TYPES, gate
from .initialization import INITIALIZATIONS, initialize_linear
from .trace import Trace

__all__ = ["GATE_TYPES", "INITIALIZATIONS", "Trace", "gate", "initialize_linear"]
