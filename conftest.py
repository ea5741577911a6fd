"""engrammar's own test runs choose their Hypothesis profile explicitly: the one selected for the
run (``engrammar-ci`` unless ``--engrammar-profile`` or ``ENGRAMMAR_HYPOTHESIS_PROFILE`` names
another) becomes the default of every Hypothesis test here. The installed pytest plugin never does
this, so other projects keep their own defaults."""

from __future__ import annotations

from typing import Any

pytest_plugins = ["pytester"]  # tests of the conformance suite run pytest inside pytest


def pytest_configure(config: Any) -> None:
    from engrammar.testing.profiles import load_selected_profile

    load_selected_profile()
