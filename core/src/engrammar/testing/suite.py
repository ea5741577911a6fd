"""``conformance_tests``: the conformance properties as a pytest test class driven by Hypothesis.

    from engrammar.testing import conformance_tests

    TestMyMemory = conformance_tests("my_memory", specs=[{"memory_size": 4}])

Each property becomes one test method (``test_resets``, ``test_causality``, ...). Hypothesis draws
a spec from ``specs``, the input width, the batch size, the length and the seed; run with
``--hypothesis-profile=engrammar-thorough`` for many more draws than the CI default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..typechecking import TypecheckError
from ..typechecking import typecheck as typecheck_switch
from .properties import PROPERTIES, TOLERANCES, Case, ConformanceError, InputMaker, check_property

__all__ = ["conformance_tests"]

SMALL_WIDTHS = st.integers(1, 4)
SMALL_BATCHES = st.integers(1, 3)
SHORT_LENGTHS = st.integers(1, 6)


def conformance_tests(
    component: Any,
    *,
    specs: Sequence[Mapping[str, Any]] | st.SearchStrategy[Mapping[str, Any]] | None = None,
    in_features: st.SearchStrategy[int] | None = SMALL_WIDTHS,
    batch_sizes: st.SearchStrategy[int] = SMALL_BATCHES,
    lengths: st.SearchStrategy[int] = SHORT_LENGTHS,
    inputs: InputMaker | None = None,
    skip: Mapping[str, str] | None = None,
    tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None,
    typecheck: bool = True,
) -> type:
    """A pytest class checking ``component`` against every conformance property.

    ``component``: a registry name, a Component class, or a factory ``(**spec) -> Component``.
    ``specs``: spec-field dicts (or a strategy of them) to draw from; default ``[{}]``.
    ``in_features``: strategy for the input width, added to each spec unless it names one; pass
    ``None`` when the factory fixes the width itself (a wiring file, say).
    ``inputs``: ``(batch, length, width, generator, dtype) -> Tensor`` for components that need
    particular inputs (default: standard normal).
    ``skip``: ``{property: reason}``; a skipped property shows as skipped, with the reason.
    ``typecheck``: run every property with the run-time check on (:func:`engrammar.typecheck`), so
    a call that breaks the declaration fails naming the tensor; ``False`` leaves the check as the
    process has it.
    """
    spec_strategy = _as_strategy(specs)
    skip = dict(skip or {})
    unknown = set(skip) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"unknown properties in skip: {sorted(unknown)}; properties: {', '.join(PROPERTIES)}")

    @st.composite
    def draws(draw: Callable[..., Any]) -> tuple[dict[str, Any], Case]:
        spec = dict(draw(spec_strategy))
        if in_features is not None and "in_features" not in spec:
            spec["in_features"] = draw(in_features)
        case = Case(
            batch_size=draw(batch_sizes),
            length=draw(lengths),
            seed=draw(st.integers(0, 2**16)),
            inputs=inputs,
            tolerances={**TOLERANCES, **(tolerances or {})},
        )
        return spec, case

    def make_test(name: str) -> Callable[..., None]:
        @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
        @given(draw=draws())
        def test(self: Any, draw: tuple[dict[str, Any], Case]) -> None:
            spec, case = draw
            with typecheck_switch(True) if typecheck else nullcontext():
                try:
                    check_property(name, component, spec, case)
                except TypecheckError as err:
                    raise ConformanceError(name, f"run-time check: {err}") from err

        test.__name__ = f"test_{name}"
        test.__doc__ = PROPERTIES[name].__doc__
        return test

    def make_skipped(name: str, reason: str) -> Callable[..., None]:
        def test(self: Any) -> None:
            import pytest

            pytest.skip(f"{name}: {reason}")

        test.__name__ = f"test_{name}"
        return test

    label = component if isinstance(component, str) else getattr(component, "__name__", "component")
    namespace: dict[str, Any] = {"__doc__": f"Conformance suite for {label}.", "__test__": True}
    for name in PROPERTIES:
        namespace[f"test_{name}"] = make_skipped(name, skip[name]) if name in skip else make_test(name)
    return type(f"Conformance[{label}]", (), namespace)


def _as_strategy(specs: Any) -> st.SearchStrategy[Mapping[str, Any]]:
    if specs is None:
        return st.just({})
    if isinstance(specs, st.SearchStrategy):
        return specs
    specs = list(specs)
    if not specs:
        raise ValueError("specs must not be empty")
    return st.sampled_from(specs)
