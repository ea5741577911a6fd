"""The Neural State Machines names for engrammar-pulse: the PULSE tutorial with ``Pulse``/``PULSE``
read as ``NSM``. ``NSMLayer`` is :class:`engrammar_pulse.PulseLayer` under its other name; the
other classes are the very same."""

from engrammar_pulse import PulseLayer, StateManager, StatePropagator, TokenToStateRouter

__all__ = ["NSMLayer", "StateManager", "StatePropagator", "TokenToStateRouter"]


class NSMLayer(PulseLayer):
    """:class:`engrammar_pulse.PulseLayer` under the Neural State Machines name (same arguments,
    same parameters, same state dicts)."""
