"""The conformance suite: the state protocol written as properties any component can be checked
against — first-party, third-party or a wiring.

    # in a plugin's tests, one line:
    TestMyMemory = conformance_tests("my_memory", specs=[{"memory_size": 4}])

    # or directly:
    failures = check_component("ema", {"in_features": 3})

Properties: shapes, state_declared, chunking, step_equals_forward, batch_independence, causality,
resets, detach, gradients, gradcheck, dtypes, determinism, spec_roundtrip, parameter_roundtrip.

Ready-made cases for a memory author (:mod:`.cases`, :mod:`.saved_outputs`), one line each::

    TestFeedback = feedback_conformance_tests("my_memory", specs=[...])    # the suite on a controller loop
    TestReadOut = read_out_tests("my_memory", {"in_features": 5})          # normalization, dropout, pass_through
    TestPlots = trace_plot_tests(plot_trace, record=traced_run, views=[...])  # the PNG plots
    TestOld = saved_outputs_tests("my_memory", "fixtures/v0_1.pt", spec)   # an old checkpoint loads, same outputs
    assert_matches_oracle(fast_outputs, naive_outputs, wrt=inputs)        # a fast path = its oracle, with gradients

Names load lazily: the pytest plugin in this package must not import torch.
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
    "feedback_conformance_tests": "cases",
    "feedback_wiring": "cases",
    "trace_plot_tests": "cases",
    "read_out_tests": "cases",
    "assert_matches_oracle": "oracle",
    "tensor_leaves": "oracle",
    "SavedOutputs": "saved_outputs",
    "check_saved_outputs": "saved_outputs",
    "load_saved_outputs": "saved_outputs",
    "save_outputs": "saved_outputs",
    "saved_outputs_tests": "saved_outputs",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engrammar.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


if TYPE_CHECKING:  # pragma: no cover
    from .cases import feedback_conformance_tests, feedback_wiring, read_out_tests, trace_plot_tests
    from .oracle import assert_matches_oracle, tensor_leaves
    from .profiles import register_profiles
    from .properties import PROPERTIES, TOLERANCES, Case, ConformanceError, check_component, check_property
    from .saved_outputs import (
        SavedOutputs,
        check_saved_outputs,
        load_saved_outputs,
        save_outputs,
        saved_outputs_tests,
    )
    from .suite import conformance_tests
