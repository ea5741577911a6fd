"""The layout the audits print: a ruled heading, lines, and the recommendations section."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

RULE = "=" * 80
THIN_RULE = "-" * 80
OK = "✓"
WARN = "⚠"


def heading(title: str) -> list[str]:
    """A section heading as the seam-gated networks write-up prints it: a rule, the title, a rule."""
    return ["", RULE, title, RULE]


def recommendations(advice: Iterable[str], healthy: str) -> list[str]:
    """The RECOMMENDATIONS section: one ``⚠`` line per piece of advice, or ``✓ <healthy>``."""
    advice = list(advice)
    lines = heading("RECOMMENDATIONS")
    lines += [f"{WARN} {line}" for line in advice] if advice else [f"{OK} {healthy}"]
    return lines


def emit(lines: Iterable[str], file: TextIO | None = None) -> None:
    print("\n".join(lines), file=file or sys.stdout)
