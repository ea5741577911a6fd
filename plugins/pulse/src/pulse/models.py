"""``from pulse.models import SimplePulse``."""

from engrammar_pulse.models import SimplePulse

__all__ = ["SimplePulse"]
