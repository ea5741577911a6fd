"""engrammar-dnc: the Differentiable Neural Computer memory (registry name ``dnc``)."""

from __future__ import annotations

from .dnc import DNC
from .spec import DNCSpec

__all__ = ["DNC", "DNCSpec"]
