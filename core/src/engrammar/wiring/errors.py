"""``WiringError``: the former name of :class:`engrammar.spec.SpecError`, kept importable.

A wiring reports every problem (a bad field, an unknown node, a cycle without a delay, a width
that cannot be inferred) as one error type that carries the path (``nodes.ctrl.in: ...``), so code
that catches ``WiringError`` or ``SpecError`` catches them all.
"""

from __future__ import annotations

from ..spec import SpecError

__all__ = ["WiringError"]

WiringError = SpecError
