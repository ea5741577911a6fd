"""engrammar-pulse: explicit state slots that tokens are routed into, updated by gated steps,
talking to each other by attention, grown and pruned by learned importance (the PULSE tutorial,
published with the names swapped as Neural State Machines).

The tutorial's classes are importable from here and under both of its names::

    from pulse import StatePropagator, StateManager, TokenToStateRouter, PulseLayer
    from nsm import StatePropagator, StateManager, TokenToStateRouter, NSMLayer

The registry side is the memory ``pulse`` (alias ``nsm``) and the trick ``prune_states``.
"""

from .debugger import PulseDebugger
from .layer import PulseLayer
from .models import SimplePulse
from .propagator import GATE_TYPES, StatePropagator
from .router import TokenToStateRouter
from .state_manager import StateManager
from .visualization import PULSEVisualizer

__all__ = [
    "GATE_TYPES",
    "PULSEVisualizer",
    "PulseDebugger",
    "PulseLayer",
    "SimplePulse",
    "StateManager",
    "StatePropagator",
    "TokenToStateRouter",
]
