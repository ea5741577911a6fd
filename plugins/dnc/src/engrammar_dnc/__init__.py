"""engrammar-dnc: the Differentiable Neural Computer memory (registry name ``dnc``)."""

from __future__ import annotations

from .dnc import DNC
from .spec import DNCSpec
from .trace import Trace

__all__ = ["DNC", "DNCSpec", "Trace"]
