"""The conformance suite proves itself: each deliberately broken component is caught by the
property named for its defect, while the correct component passes that same property."""

from __future__ import annotations

import pytest
from broken_components import BROKEN, SIDE_EFFECTS
from engrammar.builtin.ema import EMA
from engrammar.testing import Case, ConformanceError, check_component, check_property, conformance_tests

CASE = Case(batch_size=3, length=6, seed=1)


@pytest.mark.parametrize("prop", sorted(BROKEN))
def test_broken_component_is_caught_by_its_property(prop: str) -> None:
    with pytest.raises(ConformanceError, match=rf"^\[{prop}\]"):
        check_property(prop, BROKEN[prop], {"in_features": 3}, CASE)


@pytest.mark.parametrize("prop", sorted(BROKEN))
def test_correct_component_passes_the_same_property(prop: str) -> None:
    check_property(prop, EMA, {"in_features": 3}, CASE)


def test_check_component_reports_the_broken_property_by_name() -> None:
    failures = check_component(BROKEN["batch_independence"], {"in_features": 2}, CASE)
    assert "batch_independence" in {f.property for f in failures}
    assert check_component(EMA, {"in_features": 2}, CASE) == []


def test_generated_test_class_fails_on_a_broken_component() -> None:
    suite = conformance_tests(BROKEN["causality"])
    with pytest.raises(ConformanceError, match=r"\[causality\]"):
        suite().test_causality()
    suite().test_shapes()  # the shapes of this component are fine


def test_skip_requires_known_property_names() -> None:
    with pytest.raises(ValueError, match="unknown properties"):
        conformance_tests("ema", skip={"not_a_property": "because"})


TestEMAConformance = conformance_tests("ema", specs=[{}, {"init_decay": 0.3, "chunk_size": 2}])
TestLinearConformance = conformance_tests("linear", specs=[{"out_features": 3}, {"out_features": 1, "bias": False}])


def test_a_parameterless_component_must_pass_gradients_to_its_inputs() -> None:
    class Detaching(EMA):
        """Cuts the graph: no gradient reaches parameters or inputs."""

        def _sequence(self, x, state):
            y, state = super()._sequence(x.detach(), state)
            return y.detach(), state

    with pytest.raises(ConformanceError, match=r"^\[gradients\] outputs do not depend"):
        check_property("gradients", Detaching, {"in_features": 2}, CASE)
    check_property("gradients", "concat", {"in_features": 3}, CASE)


@pytest.mark.parametrize("broken", list(SIDE_EFFECTS), ids=lambda cls: cls.__name__)
def test_every_kind_of_side_effect_is_caught(broken: type) -> None:
    with pytest.raises(ConformanceError, match=rf"^\[no_side_effects\] .*{SIDE_EFFECTS[broken]}"):
        check_property("no_side_effects", broken, {"in_features": 3}, CASE)


def test_a_written_attribute_is_named_with_the_call_that_wrote_it() -> None:
    with pytest.raises(
        ConformanceError,
        match=r"forward from the initial state \(eval mode\) changed the module: attribute 'last_output' added$",
    ):
        check_property("no_side_effects", BROKEN["no_side_effects"], {"in_features": 3}, CASE)
