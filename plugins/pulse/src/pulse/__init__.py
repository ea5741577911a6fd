"""The PULSE tutorial's names for engrammar-pulse (the same classes as ``engrammar_pulse`` and ``nsm``)."""

from engrammar_pulse import PulseLayer, StateManager, StatePropagator, TokenToStateRouter

__all__ = ["PulseLayer", "StateManager", "StatePropagator", "TokenToStateRouter"]
