"""``from pulse.utils.debugger import PulseDebugger``."""

from engrammar_pulse.debugger import PulseDebugger

__all__ = ["PulseDebugger"]
