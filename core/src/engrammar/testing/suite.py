"""``conformance_tests``: the conformance properties as a pytest test class driven by Hypothesis.

    from engrammar.testing import conformance_tests

    TestMyMemory = conformance_tests("my_memory", specs=[{"memory_size": 4}, {"memory_size": 1}])

Each property becomes one test method, parametrized by spec: ``test_resets[spec0]``,
``test_resets[spec1]``, ... so every listed spec is checked on every run. Around each spec
Hypothesis draws the input width, the batch size, the length and the seed, under the profile the
run selects (``engrammar-ci`` unless ``--engrammar-profile`` or ``ENGRAMMAR_HYPOTHESIS_PROFILE``
names another, see :mod:`engrammar.testing.profiles`). A failure prints the draw and the
``check_property(...)`` call that repeats it outside pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..typechecking import TypecheckError
from ..typechecking import typecheck as typecheck_switch
from .profiles import ENV_VAR, register_profiles, selected_profile
from .properties import PROPERTIES, TOLERANCES, Case, ConformanceError, InputMaker, check_property

__all__ = ["conformance_tests"]

SMALL_WIDTHS = st.integers(1, 4)
SMALL_BATCHES = st.integers(1, 3)
SHORT_LENGTHS = st.integers(1, 6)
SEEDS = st.integers(0, 2**16)


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
    profile: str | None = None,
    typecheck: bool = True,
) -> type:
    """A pytest class checking ``component`` against every conformance property.

    ``component``: a registry name, a Component class, or a factory ``(**spec) -> Component``.
    ``specs``: spec-field dicts, each checked on every run as its own case (``spec0``, ``spec1``,
    ...); or a Hypothesis strategy of them (one case, ``drawn``); default ``[{}]``.
    ``in_features``: strategy for the input width, added to each spec unless it names one; pass
    ``None`` when the factory fixes the width itself (a wiring file, say).
    ``inputs``: ``(batch, length, width, generator, dtype) -> Tensor`` for components that need
    particular inputs (default: standard normal).
    ``skip``: ``{property: reason}``; a skipped property shows as skipped, with the reason.
    ``profile``: the Hypothesis profile of these tests; default: the one the run selects.
    ``typecheck``: run every property with the run-time check on (:func:`engrammar.typecheck`), so
    a call that breaks the declaration fails naming the tensor; ``False`` leaves the check as the
    process has it.
    """
    skip = dict(skip or {})
    unknown = set(skip) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"unknown properties in skip: {sorted(unknown)}; properties: {', '.join(PROPERTIES)}")
    listed, drawn = _spec_source(specs)
    ids = [f"spec{i}" for i in range(len(listed))] if drawn is None else ["drawn"]
    chosen = _profile(profile)
    case_tolerances = {**TOLERANCES, **(tolerances or {})}
    label = component if isinstance(component, str) else getattr(component, "__name__", "component")

    def make_test(name: str) -> Callable[..., None]:
        @pytest.mark.parametrize("spec_index", range(len(ids)), ids=ids)
        @settings(chosen, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
        @given(data=st.data())
        def test(self: Any, spec_index: int, data: st.DataObject) -> None:
            spec = dict(listed[spec_index] if drawn is None else data.draw(drawn, label="spec"))
            if in_features is not None and "in_features" not in spec:
                spec["in_features"] = data.draw(in_features, label="in_features")
            case = Case(
                batch_size=data.draw(batch_sizes, label="batch_size"),
                length=data.draw(lengths, label="length"),
                seed=data.draw(SEEDS, label="seed"),
                inputs=inputs,
                tolerances=case_tolerances,
            )
            note(_reproduction(name, component, spec, case))
            with typecheck_switch(True) if typecheck else nullcontext():
                try:
                    check_property(name, component, spec, case)
                except TypecheckError as err:
                    raise ConformanceError(name, f"run-time check: {err}") from err
                except ConformanceError as err:
                    if isinstance(err.__cause__, TypecheckError):  # check_property wraps what the component raised
                        raise ConformanceError(name, f"run-time check: {err.__cause__}") from err.__cause__
                    raise

        test.__name__ = f"test_{name}"
        test.__doc__ = PROPERTIES[name].__doc__
        return test

    def make_skipped(name: str, reason: str) -> Callable[..., None]:
        @pytest.mark.parametrize("spec_index", range(len(ids)), ids=ids)
        def test(self: Any, spec_index: int) -> None:
            pytest.skip(f"{name}: {reason}")

        test.__name__ = f"test_{name}"
        return test

    namespace: dict[str, Any] = {"__doc__": f"Conformance suite for {label}.", "__test__": True}
    for name in PROPERTIES:
        namespace[f"test_{name}"] = make_skipped(name, skip[name]) if name in skip else make_test(name)
    return type(f"Conformance[{label}]", (), namespace)


def _spec_source(specs: Any) -> tuple[list[Mapping[str, Any]], st.SearchStrategy[Mapping[str, Any]] | None]:
    if specs is None:
        return [{}], None
    if isinstance(specs, st.SearchStrategy):
        return [], specs
    listed = list(specs)
    if not listed:
        raise ValueError("specs must not be empty")
    for i, spec in enumerate(listed):
        if not isinstance(spec, Mapping):
            raise TypeError(f"specs[{i}]: expected a dict of spec fields, got {type(spec).__name__}")
    return listed, None


def _profile(name: str | None) -> settings:
    register_profiles()
    name = name or selected_profile()
    try:
        return settings.get_profile(name)
    except InvalidArgument:
        raise ValueError(
            f"unknown Hypothesis profile {name!r} for the conformance suite (from the pytest option, "
            f"${ENV_VAR} or profile=); engrammar's are engrammar-ci and engrammar-thorough"
        ) from None


def _reproduction(name: str, component: Any, spec: Mapping[str, Any], case: Case) -> str:
    """The call that repeats one draw outside pytest (printed with a failure)."""
    if isinstance(component, str):
        target = repr(component)
    else:
        target = f"{getattr(component, '__module__', '?')}.{getattr(component, '__qualname__', repr(component))}"
    fields = f"batch_size={case.batch_size}, length={case.length}, seed={case.seed}"
    if case.inputs is not None:
        fields += f", inputs={getattr(case.inputs, '__qualname__', repr(case.inputs))}"
    if dict(case.tolerances) != TOLERANCES:
        fields += f", tolerances={dict(case.tolerances)!r}"
    return (
        "repeat this draw: from engrammar.testing import Case, check_property; "
        f"check_property({name!r}, {target}, {dict(spec)!r}, Case({fields}))"
    )
