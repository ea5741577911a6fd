"""Hypothesis profiles: ``engrammar-ci`` (few draws, the default under pytest) and
``engrammar-thorough`` (many draws, for local runs: ``pytest --hypothesis-profile=engrammar-thorough``)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

CI = "engrammar-ci"
THOROUGH = "engrammar-thorough"


def register_profiles() -> None:
    quiet = [HealthCheck.too_slow]
    settings.register_profile(
        CI, max_examples=4, derandomize=True, deadline=None, suppress_health_check=quiet, print_blob=True
    )
    settings.register_profile(THOROUGH, max_examples=100, deadline=None, suppress_health_check=quiet, print_blob=True)
