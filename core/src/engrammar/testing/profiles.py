"""Hypothesis profiles for the conformance suite, and which one a run uses.

- ``engrammar-ci``: 4 derandomized draws per (spec, property); the same draws on every run.
- ``engrammar-thorough``: 100 random draws per (spec, property); a failing draw is kept in
  Hypothesis' example database and tried first on the next run.

Nothing here loads a profile as Hypothesis' default: ``conformance_tests`` classes apply theirs to
their own tests only, so installing engrammar changes no other project's Hypothesis settings.
A run chooses with ``pytest --engrammar-profile=NAME`` or the environment variable
``ENGRAMMAR_HYPOTHESIS_PROFILE=NAME`` (the option wins); ``--hypothesis-profile=engrammar-thorough``
works too. Hypothesis is imported only when a profile is registered or loaded.
"""

from __future__ import annotations

import os

__all__ = [
    "CI",
    "ENV_VAR",
    "THOROUGH",
    "choose_profile",
    "load_selected_profile",
    "register_profiles",
    "selected_profile",
]

CI = "engrammar-ci"
THOROUGH = "engrammar-thorough"
ENV_VAR = "ENGRAMMAR_HYPOTHESIS_PROFILE"
OURS = (CI, THOROUGH)

_chosen: str | None = None  # set by the pytest plugin from its command-line option


def register_profiles() -> None:
    """Register ``engrammar-ci`` and ``engrammar-thorough`` with Hypothesis (loads neither)."""
    from hypothesis import HealthCheck, Phase, settings

    quiet = [HealthCheck.too_slow, HealthCheck.differing_executors]
    # No explain phase: it traces every line a failing draw runs, torch included (minutes, not seconds).
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]
    # Built on Hypothesis' own defaults, not on whatever profile the project has loaded.
    common = settings(settings.get_profile("default"), deadline=None, suppress_health_check=quiet, phases=phases)
    settings.register_profile(CI, common, max_examples=4, derandomize=True)
    settings.register_profile(THOROUGH, common, max_examples=100)


def choose_profile(name: str | None) -> str | None:
    """Make ``name`` the profile of this run's conformance tests (``None``: back to the default);
    returns the previous choice."""
    global _chosen
    previous, _chosen = _chosen, name
    return previous


def selected_profile() -> str:
    """The profile conformance tests run under: the pytest option, else the environment variable,
    else ``engrammar-ci``."""
    return _chosen or os.environ.get(ENV_VAR) or CI


def load_selected_profile() -> None:
    """Make the selected profile Hypothesis' default: for engrammar's own test runs (its conftest),
    never done by the pytest plugin."""
    from hypothesis import settings

    register_profiles()
    settings.load_profile(selected_profile())
