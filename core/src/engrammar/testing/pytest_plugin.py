"""pytest plugin (entry point ``pytest11``): registers the Hypothesis profiles and makes
``engrammar-ci`` the default unless ``--hypothesis-profile`` is given. Imports neither torch nor
any component, so it costs nothing in projects that do not use it."""

from __future__ import annotations

from typing import Any

from .profiles import CI, register_profiles

# At import, so that `--hypothesis-profile=engrammar-thorough` finds the profile whichever
# plugin's pytest_configure runs first.
register_profiles()


def pytest_configure(config: Any) -> None:
    from hypothesis import settings

    try:
        chosen = config.getoption("hypothesis_profile")
    except ValueError:
        chosen = None
    if chosen is None:
        settings.load_profile(CI)
