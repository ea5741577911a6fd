"""``from nsm.utils.debugger import NSMDebugger``."""

from engrammar_pulse.debugger import PulseDebugger

__all__ = ["NSMDebugger"]


class NSMDebugger(PulseDebugger):
    """:class:`engrammar_pulse.PulseDebugger` under the Neural State Machines name."""
