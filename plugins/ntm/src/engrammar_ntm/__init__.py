"""engrammar-ntm: the Neural Turing Machine memory (registry name ``ntm``)."""

from __future__ import annotations

from .ntm import NTM
from .spec import NTMSpec

__all__ = ["NTM", "NTMSpec"]
