"""pytest plugin (entry point ``pytest11``): adds ``--engrammar-profile``, the Hypothesis profile
that ``conformance_tests`` classes run under, and lets ``--hypothesis-profile`` name an engrammar
profile. It loads no profile as Hypothesis' default and imports neither Hypothesis (unless an
engrammar profile is asked for by name) nor torch, so it changes nothing in other projects and
works where Hypothesis is not installed."""

from __future__ import annotations

from typing import Any

import pytest

from .profiles import ENV_VAR, OURS, choose_profile, register_profiles

_PREVIOUS_CHOICE = pytest.StashKey[Any]()  # restored at the end: a pytest run inside a pytest run


def pytest_addoption(parser: Any) -> None:
    parser.getgroup("engrammar").addoption(
        "--engrammar-profile",
        default=None,
        metavar="NAME",
        help=f"Hypothesis profile of engrammar conformance tests: engrammar-ci (default) or "
        f"engrammar-thorough (also set by ${ENV_VAR})",
    )


@pytest.hookimpl(tryfirst=True)  # before Hypothesis' plugin loads a profile named on the command line
def pytest_configure(config: Any) -> None:
    try:
        hypothesis_profile = config.getoption("hypothesis_profile")
    except ValueError:  # Hypothesis is not installed
        hypothesis_profile = None
    if hypothesis_profile in OURS:
        register_profiles()
    chosen = config.getoption("engrammar_profile")
    previous = choose_profile(chosen or (hypothesis_profile if hypothesis_profile in OURS else None))
    config.stash[_PREVIOUS_CHOICE] = previous


def pytest_unconfigure(config: Any) -> None:
    if _PREVIOUS_CHOICE in config.stash:
        choose_profile(config.stash[_PREVIOUS_CHOICE])
