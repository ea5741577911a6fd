"""The opt-in run-time check: it catches planted breaches of the declaration (output width, state
shape, state dtype, batch size, resets, the returned pair), names the component, the call, the
tensor and the node path inside a wiring, and leaves the classes untouched when off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import engrammar
import pytest
import torch
from engrammar.builtin.ema import EMA
from engrammar.component import Component
from engrammar.registry import build, register, unregister
from engrammar.state import State, StateEntry
from engrammar.typechecking import ENV_VAR, TypecheckError, typecheck, typecheck_enabled
from engrammar.wiring import Wiring
from torch import Tensor

# ---- planted defects (each an EMA with one thing wrong) ----------------------------------------


class WrongOutputWidth(EMA):
    """Declares out_features = in_features + 1 and returns in_features."""

    @property
    def out_features(self) -> int:
        return self.in_features + 1


class WrongStateShape(EMA):
    """Returns an average one feature short."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y, {"average": state["average"][:, 1:]}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y, {"average": state["average"][:, 1:]}


class WrongStateDtype(EMA):
    """Returns its state in float64 whatever the input dtype."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y, {"average": state["average"].double()}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y, {"average": state["average"].double()}


class WrongBatchInState(EMA):
    """Returns the state of the first sample only."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._step(x_t, state)
        return y, {"average": state["average"][:1]}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y, {"average": state["average"][:1]}


class WrongOutputDtype(EMA):
    """Computes in float64 and returns float64 outputs for float32 inputs."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y.double(), state


class WrongInitialDtype(EMA):
    """A learned-style init_state that ignores the dtype it is asked for."""

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:  # type: ignore[no-untyped-def]
        return {"average": torch.zeros(batch_size, self.in_features, dtype=torch.float16)}


class ReturnsOutputOnly(EMA):
    """Forgets to return the state."""

    def forward(self, x, state=None, resets=None):  # type: ignore[no-untyped-def]
        return super().forward(x, state, resets)[0]


class CountsSteps(EMA):
    """Declares an int64 step counter beside its average."""

    def state_spec(self) -> dict[str, StateEntry]:
        return {**super().state_spec(), "count": StateEntry((), dtype="int64")}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = super()._step(x_t, {"average": state["average"]})
        return y, {**new, "count": state["count"] + 1}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = super()._sequence(x, {"average": state["average"]})
        return y, {**new, "count": state["count"] + x.shape[1]}


class CountsStepsAsFloat(CountsSteps):
    """Returns its int64 counter as a float."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = super()._sequence(x, state)
        return y, {**new, "count": new["count"].to(x.dtype)}


X = torch.randn(4, 5, 3)


@pytest.fixture
def checked():
    with typecheck():
        yield


@pytest.fixture
def unchecked():
    # Off whatever the environment says (the suite may run under ENGRAMMAR_TYPECHECK=1).
    with typecheck(False):
        yield


# ---- each planted defect is caught, with a message naming component, call and tensor ----------


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (WrongOutputWidth, r"^WrongOutputWidth\.forward: output: expected shape \(4, 5, 4\), got \(4, 5, 3\)$"),
        (
            WrongStateShape,
            r"^WrongStateShape\.forward: state\.average \(returned\): expected shape \(4, 3\), got \(4, 2\)$",
        ),
        (
            WrongStateDtype,
            r"^WrongStateDtype\.forward: state\.average \(returned\): expected dtype float32, got float64$",
        ),
        (
            WrongBatchInState,
            r"^WrongBatchInState\.forward: state\.average \(returned\): expected shape \(4, 3\), got \(1, 3\)$",
        ),
        (WrongOutputDtype, r"^WrongOutputDtype\.forward: output: expected dtype float32, got float64$"),
        (WrongInitialDtype, r"^WrongInitialDtype\.init_state: state\.average: expected dtype float32, got float16$"),
        (
            ReturnsOutputOnly,
            r"^ReturnsOutputOnly\.forward: result: expected a pair \(output tensor, state dict\), got Tensor$",
        ),
        (
            CountsStepsAsFloat,
            r"^CountsStepsAsFloat\.forward: state\.count \(returned\): expected dtype int64, got float32$",
        ),
    ],
)
def test_a_planted_defect_is_caught_in_forward(checked: None, cls: type[Component], message: str) -> None:
    with pytest.raises(TypecheckError, match=message) as caught:
        cls(in_features=3)(X)
    assert caught.value.component.__class__ is cls
    assert caught.value.call in ("forward", "init_state")


@pytest.mark.parametrize("cls", [WrongOutputWidth, WrongStateShape, WrongStateDtype, WrongBatchInState])
def test_a_planted_defect_is_caught_in_step(checked: None, cls: type[Component]) -> None:
    with pytest.raises(TypecheckError, match=rf"^{cls.__name__}\.step: "):
        cls(in_features=3).step(X[:, 0])


@pytest.mark.parametrize(
    "cls", [WrongOutputWidth, WrongStateShape, WrongStateDtype, WrongBatchInState, CountsStepsAsFloat]
)
def test_without_the_check_the_same_defects_pass_silently(unchecked: None, cls: type[Component]) -> None:
    assert not typecheck_enabled()
    cls(in_features=3)(X)  # what the check is for: nothing else notices


def test_correct_components_pass(checked: None) -> None:
    for component in (EMA(in_features=3), CountsSteps(in_features=3)):
        y, state = component(X)
        y, state = component(X, state, torch.rand(4, 5) < 0.3)
        _, state = component.step(X[:, 0], state, torch.tensor([True, False, False, True]))
        component.init_state(2, dtype=torch.float64)
    y, _ = EMA(in_features=3).double()(X.double())  # float64 follows the input
    assert y.dtype == torch.float64


# ---- arguments: what goes in is checked as well --------------------------------------------------


def test_incoming_state_is_checked_against_the_declaration(checked: None) -> None:
    ema = EMA(in_features=3)
    cases = [
        ({"average": torch.zeros(4, 4)}, r"state\.average \(incoming\): expected shape \(4, 3\), got \(4, 4\)"),
        ({"average": torch.zeros(2, 3)}, r"state\.average \(incoming\): expected shape \(4, 3\), got \(2, 3\)"),
        ({"average": torch.zeros(4, 3).double()}, r"state\.average \(incoming\): expected dtype float32, got float64"),
        ({}, r"state \(incoming\): missing entries \['average'\] \(declared: \['average'\]\)"),
        (
            {"average": torch.zeros(4, 3), "extra": torch.zeros(4)},
            r"state \(incoming\): entries not declared \['extra'\]",
        ),
        ({"average": [0.0]}, r"state\.average \(incoming\): expected a tensor, got list"),
    ]
    for state, message in cases:
        with pytest.raises(TypecheckError, match=rf"^EMA\.forward: {message}"):
            ema(X, state)


def test_inputs_and_resets_are_checked(checked: None) -> None:
    ema = EMA(in_features=3)
    with pytest.raises(TypecheckError, match=r"^EMA\.forward: x: expected shape \(4, 5, 3\), got \(4, 5, 2\)$"):
        ema(torch.randn(4, 5, 2))
    with pytest.raises(TypecheckError, match=r"^EMA\.forward: resets: expected shape \(4, 5\), got \(4, 6\)$"):
        ema(X, resets=torch.zeros(4, 6, dtype=torch.bool))
    with pytest.raises(TypecheckError, match=r"^EMA\.forward: resets: expected dtype bool, got float32$"):
        ema(X, resets=torch.zeros(4, 5))
    with pytest.raises(TypecheckError, match=r"^EMA\.step: reset: expected shape \(4,\), got \(3,\)$"):
        ema.step(X[:, 0], reset=torch.zeros(3, dtype=torch.bool))
    with pytest.raises(TypecheckError, match=r"^EMA\.forward: x: expected a tensor, got list$"):
        ema([[0.0]])
    with pytest.raises(TypecheckError, match=r"^EMA\.init_state: batch_size: expected an int, got float$"):
        ema.init_state(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypecheckError, match=r"^EMA\.init_state: batch_size: expected an int, got bool$"):
        ema.init_state(True)
    with pytest.raises(TypecheckError, match=r"^EMA\.init_state: batch_size: expected a size >= 0, got -1$"):
        ema.init_state(-1)
    with pytest.raises(TypecheckError, match=r"^EMA\.init_state: dtype: expected a torch.dtype or None, got str$"):
        ema.init_state(2, dtype="float32")  # type: ignore[arg-type]


def test_the_error_is_a_value_error_and_a_type_error(checked: None) -> None:
    # Code that caught the ValueError of a bad input shape keeps working with the check on.
    with pytest.raises(ValueError):
        EMA(in_features=3)(torch.randn(4, 5, 2))
    with pytest.raises(TypeError):
        EMA(in_features=3)(X, {"average": torch.zeros(4, 3).double()})


# ---- inside wirings: layer-major, step-major and nested, with the node path ----------------------


@pytest.fixture
def planted_names():
    register("layers", "planted_wrong_state")(WrongStateShape)
    register("layers", "planted_wrong_width")(WrongOutputWidth)
    yield
    unregister("planted_wrong_state")
    unregister("planted_wrong_width")


def test_a_node_in_a_layer_major_stage_is_named_by_its_path(checked: None, planted_names: None) -> None:
    w = Wiring("chain", in_features=3)
    proj = w.node("proj", "linear", out_features=3, inputs=w.x)
    w.node("mem", "planted_wrong_state", inputs=proj)
    w.output("mem")
    graph = w.build()
    with pytest.raises(
        TypecheckError,
        match=r"^WrongStateShape\.forward: mem\.state\.average \(returned\): expected shape \(4, 3\), got \(4, 2\)$",
    ):
        graph(X)
    with pytest.raises(TypecheckError, match=r"^WrongStateShape\.step: mem\.state\.average \(returned\)"):
        graph.step(X[:, 0])


def test_a_node_in_a_step_major_loop_is_checked(checked: None, planted_names: None) -> None:
    # ctrl reads mem one step back: the loop calls mem's _step directly, past its public step.
    w = Wiring("loop", in_features=3)
    ctrl = w.node("ctrl", "linear", out_features=3, inputs=[w.x, "mem@-1"])
    w.node("mem", "planted_wrong_state", inputs=ctrl)
    w.output("mem")
    graph = w.build()
    assert "step-major" in graph.describe_plan() or "loop" in graph.describe_plan()
    with pytest.raises(TypecheckError, match=r"^WrongStateShape\.step: mem\.state\.average \(returned\)"):
        graph(X)


def test_a_node_of_a_nested_wiring_is_named_by_its_full_path(checked: None, planted_names: None, tmp_path) -> None:
    inner = tmp_path / "inner.yaml"
    inner.write_text(
        "name: inner\nnodes:\n  mem: {use: planted_wrong_width, in: x}\n  head: {use: linear, out_features: 2, in: mem}\nout: head\n"
    )
    w = Wiring("outer", in_features=3)
    proj = w.node("proj", "linear", out_features=3, inputs=w.x)
    w.node("block", str(inner), inputs=proj)
    w.output("block")
    graph = w.build()
    with pytest.raises(
        TypecheckError,
        match=r"^WrongOutputWidth\.forward: block\.mem\.output: expected shape \(4, 5, 4\), got \(4, 5, 3\)$",
    ) as caught:
        graph(X)
    assert caught.value.node_path == "block.mem"


def test_a_graph_state_with_a_missing_node_is_caught(checked: None) -> None:
    w = Wiring("two", in_features=3)
    a = w.node("a", "ema", inputs=w.x)
    w.node("b", "ema", inputs=a)
    w.output("b")
    graph = w.build()
    _, state = graph(X)
    del state["b"]
    with pytest.raises(TypecheckError, match=r"^Graph\.forward: state \(incoming\): missing entries \['b'\]"):
        graph(X, state)


# ---- run-time registration, the switch and the environment variable ---------------------------


def test_a_component_defined_and_registered_while_the_check_is_on_is_checked(unchecked: None) -> None:
    with typecheck():

        @register("memories", "planted_late")
        class LateWrongWidth(EMA):
            @property
            def out_features(self) -> int:
                return 1

            def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
                return super()._sequence(x, state)

            def forward(self, x, state=None, resets=None):  # type: ignore[no-untyped-def]
                return super().forward(x, state, resets)

        try:
            with pytest.raises(TypecheckError, match=r"^LateWrongWidth\.forward: output"):
                build("planted_late", in_features=3)(X)
        finally:
            unregister("planted_late")
    assert LateWrongWidth.forward is LateWrongWidth.__dict__["forward"]
    assert not getattr(LateWrongWidth.forward, "_engrammar_checked", False)


def test_off_puts_the_original_functions_back(unchecked: None) -> None:
    originals = {name: Component.__dict__[name] for name in ("forward", "step", "init_state")}
    with typecheck():
        assert typecheck_enabled()
        assert all(Component.__dict__[name] is not fn for name, fn in originals.items())
        assert Component.__dict__["forward"].__wrapped__ is originals["forward"]
        with typecheck(False):
            assert not typecheck_enabled()
            assert all(Component.__dict__[name] is fn for name, fn in originals.items())
            WrongStateShape(in_features=3)(X)  # off inside: not caught
        assert typecheck_enabled()  # the inner block restored the outer setting
    assert not typecheck_enabled()
    assert all(Component.__dict__[name] is fn for name, fn in originals.items())


def test_a_plain_call_switches_until_switched_back(unchecked: None) -> None:
    engrammar.typecheck(True)
    try:
        with pytest.raises(TypecheckError):
            WrongStateShape(in_features=3)(X)
    finally:
        engrammar.typecheck(False)
    WrongStateShape(in_features=3)(X)
    with pytest.raises(TypeError, match="expected True or False"):
        engrammar.typecheck("yes")  # type: ignore[arg-type]


class PassesThrough(EMA):
    """Overrides forward and calls the parent's: one call, checked once."""

    def forward(self, x, state=None, resets=None):  # type: ignore[no-untyped-def]
        return super().forward(x, state, resets)


def test_a_super_call_is_checked_once(checked: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from engrammar import typechecking

    seen: list[str] = []
    original = typechecking._Call.outputs

    def counting(self, x, sequence, result):  # type: ignore[no-untyped-def]
        seen.append(self.call)
        return original(self, x, sequence, result)

    monkeypatch.setattr(typechecking._Call, "outputs", counting)
    PassesThrough(in_features=3)(X)
    assert seen == ["forward"]  # not twice (PassesThrough.forward, then Component.forward)


def _run_python(code: str, value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV_VAR: value, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_environment_variable_turns_the_check_on_at_import() -> None:
    code = """
        import torch, engrammar
        from engrammar.builtin.ema import EMA

        class Short(EMA):
            def _sequence(self, x, state):
                y, state = super()._sequence(x, state)
                return y, {"average": state["average"][:, 1:]}

        try:
            Short(in_features=3)(torch.randn(2, 4, 3))
        except engrammar.TypecheckError as err:
            print(err)
        else:
            print("not caught")
    """
    on = _run_python(code, "1")
    assert on.stdout.strip() == "Short.forward: state.average (returned): expected shape (2, 3), got (2, 2)", on.stderr
    off = _run_python(code, "0")
    assert off.stdout.strip() == "not caught", off.stderr
    bad = _run_python("import engrammar.component", "maybe")
    assert bad.returncode != 0
    assert "ENGRAMMAR_TYPECHECK must be 1 or 0 (or true/false, yes/no, on/off), got 'maybe'" in bad.stderr


# ---- dimensions that change at run time, and autocast --------------------------------------------


class GrowingCache(Component):
    """Appends every input to a cache whose length is a run-time dimension shared by two entries."""

    @property
    def out_features(self) -> int:
        return self.in_features

    def state_spec(self) -> dict[str, StateEntry]:
        cache = StateEntry(("cache", self.in_features), count="seen")
        return {"keys": cache, "values": cache, "seen": StateEntry((), dtype="int64")}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        keys = torch.cat([state["keys"], x_t[:, None]], dim=1)
        values = torch.cat([state["values"], 2 * x_t[:, None]], dim=1)
        return values.mean(dim=1), {"keys": keys, "values": values, "seen": state["seen"] + 1}


class GrowingCacheOutOfStep(GrowingCache):
    """Lets its values fall one slot behind its keys."""

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = super()._step(x_t, state)
        return y, {**new, "values": state["values"]}


def test_run_time_dimensions_grow_and_must_agree(checked: None) -> None:
    cache = GrowingCache(in_features=3)
    assert cache.init_state(2)["keys"].shape == (2, 0, 3)
    _, state = cache(X)
    _, state = cache(X, state)
    assert state["keys"].shape == (4, 10, 3)
    with pytest.raises(
        TypecheckError,
        match=r"^GrowingCacheOutOfStep\.step: state\.values \(returned\): expected shape \(4, cache, 3\), got \(4, 0, 3\) "
        r"\(the size of dimension cache is 0 which does not equal the existing value of 1\)$",
    ):
        GrowingCacheOutOfStep(in_features=3).step(X[:, 0])


def test_state_entry_dimension_names_are_validated() -> None:
    assert StateEntry(("cache", 4), count="n").initial_shape == (0, 4)
    with pytest.raises(ValueError, match="named by an identifier"):
        StateEntry(("a cache", 4), count="n")
    with pytest.raises(ValueError, match=">= 0"):
        StateEntry((-1,))


class BFloat16Output(EMA):
    """Returns bfloat16 outputs whatever the input dtype."""

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super()._sequence(x, state)
        return y.to(torch.bfloat16), state


def test_under_autocast_dtypes_may_change_but_shapes_are_still_checked(checked: None) -> None:
    linear = build("linear", in_features=3, out_features=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = linear(X)
        assert y.dtype == torch.bfloat16  # autocast's doing, not a defect
        BFloat16Output(in_features=3)(X)
        with pytest.raises(TypecheckError, match=r"state\.average \(returned\): expected shape"):
            WrongStateShape(in_features=3)(X)
    with pytest.raises(
        TypecheckError, match=r"^BFloat16Output\.forward: output: expected dtype float32, got bfloat16$"
    ):
        BFloat16Output(in_features=3)(X)


# ---- the conformance suite runs with the check on --------------------------------------------------


def test_the_conformance_suite_runs_its_properties_with_the_check_on(unchecked: None) -> None:
    from engrammar.testing import Case, ConformanceError, conformance_tests

    # One fixed draw through the generated test's body (Hypothesis' inner_test): no search, no shrinking.
    draw = ({"in_features": 3}, Case(batch_size=2, length=4))
    checked_suite = conformance_tests(WrongStateShape)
    with pytest.raises(
        ConformanceError, match=r"^\[shapes\] run-time check: WrongStateShape\.forward: state\.average \(returned\)"
    ):
        checked_suite.test_shapes.hypothesis.inner_test(checked_suite(), draw=draw)
    assert not typecheck_enabled()  # the suite put the switch back
    # The shapes property alone looks at outputs only: without the check this defect passes it.
    unchecked_suite = conformance_tests(WrongStateShape, typecheck=False)
    unchecked_suite.test_shapes.hypothesis.inner_test(unchecked_suite(), draw=draw)
