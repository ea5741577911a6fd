"""The conformance suite: the state protocol written as properties any component can be checked
against — first-party, third-party or a wiring.

    # in a plugin's tests, one line:
    TestMyMemory = conformance_tests("my_memory", specs=[{"memory_size": 4}])

    # or directly:
    failures = check_component("ema", {"in_features": 3})

Properties: shapes, state_declared, chunking, step_equals_forward, batch_independence, causality,
resets, detach, gradients, gradcheck, dtypes, determinism, spec_roundtrip, parameter_roundtrip,
incoming_state_unchanged.

Names load lazily: the pytest plugin in this package must import neither torch nor Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "PROPERTIES": "properties",
    "TOLERANCES": "properties",
    "Case": "properties",
    "ConformanceError": "properties",
    "check_component": "properties",
    "check_property": "properties",
    "conformance_tests": "suite",
    "register_profiles": "profiles",
    "selected_profile": "profiles",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engrammar.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


if TYPE_CHECKING:  # pragma: no cover
    from .profiles import register_profiles, selected_profile
    from .properties import PROPERTIES, TOLERANCES, Case, ConformanceError, check_component, check_property
    from .suite import conformance_tests
