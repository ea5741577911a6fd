"""Errors a wiring reports to its user (the command prints them without a traceback)."""

from __future__ import annotations

__all__ = ["WiringError"]


class WiringError(ValueError):
    """A wiring that cannot be built. ``str(error)`` is one line: ``path: what is wrong``.

    ``path`` names the node and field (``nodes.ctrl.in``), as :class:`engrammar.spec.SpecError` does.
    """

    user_error = True

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)
