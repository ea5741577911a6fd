"""Building blocks that several component families share: gate activations selectable by name
(with a straight-through Heaviside), weight initialisation schemes, and the ``Trace`` recorder that
traced components keep on ``last_trace`` (``engrammar train`` plots it)."""

from .gates import GATE_TYPES, gate
from .initialization import INITIALIZATIONS, initialize_linear
from .trace import Trace

__all__ = ["GATE_TYPES", "INITIALIZATIONS", "Trace", "gate", "initialize_linear"]
