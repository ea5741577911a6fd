"""``from nsm.models import SimpleNSM``."""

from engrammar_pulse.models import SimplePulse

__all__ = ["SimpleNSM"]


class SimpleNSM(SimplePulse):
    """:class:`engrammar_pulse.SimplePulse` under the Neural State Machines name (same arguments,
    same parameters, same state dicts)."""
