"""``pulse.utils``: the debugger (``pulse.utils.debugger.PulseDebugger``)."""
