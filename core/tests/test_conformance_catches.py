"""The conformance suite proves itself: each deliberately broken component is caught by the
property named for its defect, while the correct component passes that same property."""

from __future__ import annotations

import ast
import re

import pytest
import torch
from broken_components import BROKEN, MORE_BROKEN, SIDE_EFFECTS, EditsStateInStep, ForgetsAnEntry
from engrammar.builtin.ema import EMA
from engrammar.testing import PROPERTIES, Case, ConformanceError, check_component, check_property, conformance_tests

CASE = Case(batch_size=3, length=6, seed=1)


def test_every_property_has_a_planted_defect() -> None:
    assert set(BROKEN) == set(PROPERTIES)


@pytest.mark.parametrize("prop", sorted(BROKEN))
def test_broken_component_is_caught_by_its_property(prop: str) -> None:
    with pytest.raises(ConformanceError, match=rf"^\[{prop}\]"):
        check_property(prop, BROKEN[prop], {"in_features": 3}, CASE)


@pytest.mark.parametrize("prop", sorted(BROKEN))
def test_correct_component_passes_the_same_property(prop: str) -> None:
    check_property(prop, EMA, {"in_features": 3}, CASE)


@pytest.mark.parametrize(("prop", "component", "message"), MORE_BROKEN, ids=lambda v: getattr(v, "__name__", None))
def test_more_defects_are_caught_with_a_message_that_says_what_happened(
    prop: str, component: type, message: str
) -> None:
    with pytest.raises(ConformanceError, match=rf"^\[{prop}\] .*{message}"):
        check_property(prop, component, {"in_features": 3}, CASE)


def test_check_component_reports_the_broken_property_by_name() -> None:
    failures = check_component(BROKEN["batch_independence"], {"in_features": 2}, CASE)
    assert "batch_independence" in {f.property for f in failures}
    assert check_component(EMA, {"in_features": 2}, CASE) == []


def test_editing_the_state_in_step_only_is_caught_and_only_by_its_property() -> None:
    """The defect that once escaped: stepping twice from one state gives two outputs, and every
    other property passes."""
    component = EditsStateInStep(in_features=3)
    state = {"average": torch.ones(2, 3)}
    x_t = torch.randn(2, 3)
    first, _ = component.step(x_t, state)
    second, _ = component.step(x_t, state)
    assert not torch.allclose(first, second)
    failures = check_component(EditsStateInStep, {"in_features": 3}, CASE)
    assert [f.property for f in failures] == ["incoming_state_unchanged"]
    assert "step (under no_grad): tensor 'average' was overwritten in place" in str(failures[0])


def test_a_missing_state_entry_is_named_and_no_property_raises_a_bare_error() -> None:
    failures = check_component(ForgetsAnEntry, {"in_features": 3}, CASE)
    by_name = {f.property: str(f) for f in failures}
    assert "forward: state lacks declared entry 'average'" in by_name.pop("state_declared")
    assert by_name, "properties that read the state must fail too"
    for prop, message in by_name.items():
        assert message.startswith(f"[{prop}] cannot be checked, the state breaks its declaration: "), message
        assert "lacks declared entry 'average'" in message


def test_an_exception_inside_a_property_becomes_a_failure_of_that_property() -> None:
    class Crashes(EMA):
        def _sequence(self, x, state):
            raise RuntimeError("kernel exploded")

    with pytest.raises(ConformanceError, match=r"^\[chunking\] RuntimeError: kernel exploded") as caught:
        check_property("chunking", Crashes, {"in_features": 2}, CASE)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_a_spec_that_does_not_build_is_reported_as_itself() -> None:
    from engrammar.spec import SpecError

    with pytest.raises(SpecError, match="init_decay"):
        check_property("shapes", EMA, {"in_features": 2, "init_decay": 2.0}, CASE)


def test_a_property_run_is_repeatable_and_leaves_the_global_generator_alone() -> None:
    class Noisy(EMA):
        """Dropout-like noise from the global generator in training mode only."""

        def _sequence(self, x, state):
            y, state = super()._sequence(x, state)
            return (y + torch.randn_like(y) if self.training else y), state

    torch.manual_seed(123)
    before = torch.get_rng_state()
    check_property("gradients", Noisy, {"in_features": 2}, CASE)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_parameter_a_tiny_draw_misses_by_chance_is_checked_on_a_larger_draw() -> None:
    from broken_components import RareUnit
    from engrammar.testing.properties import _backward, make_maker

    case = Case(batch_size=1, length=3, seed=0)
    component = make_maker(RareUnit, {"in_features": 2}, case.seed)(case.dtype).train()
    _backward(component, case, case.batch_size, case.length, salt=0)
    assert component.gain.grad is not None and float(component.gain.grad.abs().sum()) == 0.0  # the tiny draw misses
    check_property("gradients", RareUnit, {"in_features": 2}, case)
    with pytest.raises(ConformanceError, match=r"\[gradients\] parameter 'unused' got no gradient \(also on"):
        check_property("gradients", BROKEN["gradients"], {"in_features": 2}, case)


def test_generated_test_class_fails_on_a_broken_component() -> None:
    suite = conformance_tests(BROKEN["causality"])
    with pytest.raises(ConformanceError, match=r"\[causality\]"):
        suite().test_causality(spec_index=0)
    suite().test_shapes(spec_index=0)  # the shapes of this component are fine


def test_skip_requires_known_property_names() -> None:
    with pytest.raises(ValueError, match="unknown properties"):
        conformance_tests("ema", skip={"not_a_property": "because"})


def test_specs_may_be_a_strategy_drawn_in_one_case() -> None:
    from hypothesis import strategies as st

    suite = conformance_tests(BROKEN["causality"], specs=st.sampled_from([{"init_decay": 0.5}, {"chunk_size": 2}]))
    with pytest.raises(ConformanceError, match=r"\[causality\]"):
        suite().test_causality(spec_index=0)


def test_specs_must_be_a_non_empty_list_of_dicts() -> None:
    with pytest.raises(ValueError, match="specs must not be empty"):
        conformance_tests("ema", specs=[])
    with pytest.raises(TypeError, match=r"specs\[1\]: expected a dict of spec fields, got int"):
        conformance_tests("ema", specs=[{}, 3])  # type: ignore[list-item]


def test_an_unknown_profile_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown Hypothesis profile 'engrammar-nightly'"):
        conformance_tests("ema", profile="engrammar-nightly")


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


# ---- every listed spec runs, every time -----------------------------------------------------------

FIVE_SPECS = "[{}, {'init_decay': 0.5}, {'chunk_size': 2}, {'init_decay': 0.3, 'chunk_size': 5}, {'chunk_size': 3}]"

ONE_BAD_SPEC_OF_FIVE = f"""
from broken_components import PeeksWhenChunkedByThree
from engrammar.testing import conformance_tests

TestOneBadSpec = conformance_tests(PeeksWhenChunkedByThree, specs={FIVE_SPECS})
"""


def test_every_listed_spec_is_a_case_of_its_own_and_a_failure_prints_how_to_repeat_it(
    pytester: pytest.Pytester,
) -> None:
    """Five specs, one broken (the last): its case fails, the four others pass, on every run."""
    pytester.makepyfile(test_one_bad_spec=ONE_BAD_SPEC_OF_FIVE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "causality", "-rA")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["FAILED *TestOneBadSpec::test_causality[[]spec4[]]*"])
    for i in range(4):
        result.stdout.fnmatch_lines([f"PASSED *TestOneBadSpec::test_causality[[]spec{i}[]]*"])
    output = result.stdout.str()
    line = re.search(
        r"check_property\('causality', broken_components\.PeeksWhenChunkedByThree, (\{.*?\}), Case\(batch_size=(\d+), length=(\d+), seed=(\d+)\)\)",
        output,
    )
    assert line is not None, output
    spec = ast.literal_eval(line.group(1))
    assert spec["chunk_size"] == 3
    from broken_components import PeeksWhenChunkedByThree

    case = Case(batch_size=int(line.group(2)), length=int(line.group(3)), seed=int(line.group(4)))
    with pytest.raises(ConformanceError, match=r"^\[causality\]"):
        check_property("causality", PeeksWhenChunkedByThree, spec, case)


# ---- no_side_effects: more kinds of side effect -------------------------------------------------


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
