"""``nsm.utils``: the debugger (``nsm.utils.debugger.NSMDebugger``)."""
