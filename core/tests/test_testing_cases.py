"""The ready-made cases of engrammar.testing: the feedback wiring, the trace-plot class (which must
catch a broken plot function) and saved outputs (which must catch a checkpoint that no longer
fits or computes something else)."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.nn.plotting import PlotFolder, new_figure, trace_sample
from engrammar.testing import (
    check_saved_outputs,
    feedback_conformance_tests,
    feedback_wiring,
    load_saved_outputs,
    save_outputs,
    trace_plot_tests,
)

# ---- feedback wiring ---------------------------------------------------------------------


def test_feedback_wiring_feeds_the_memory_output_back_one_step_late() -> None:
    torch.manual_seed(0)
    loop = feedback_wiring("ema", {}, in_features=3, out_features=2)
    assert loop.out_features == 2
    x = torch.randn(2, 5, 3)
    y, _ = loop(x)
    assert y.shape == (2, 5, 2)
    # a loop, but a causal one: the last input changes nothing before it
    x_late = x.clone()
    x_late[:, -1] += 1.0
    assert torch.equal(loop(x_late)[0][:, :-1], y[:, :-1])
    assert loop.spec.nodes["ctrl"].inputs == ("x", "mem@-1")
    assert loop.spec.nodes["head"].inputs == ("ctrl", "mem")


def test_feedback_wiring_takes_the_controller_fields_given() -> None:
    loop = feedback_wiring(
        "ema", in_features=2, controller="linear", controller_fields={"out_features": 4, "bias": False}
    )
    assert loop.spec.nodes["ctrl"].fields == {"out_features": 4, "bias": False}
    assert sorted(name for name, _ in loop.named_parameters() if name.startswith("nodes.ctrl")) == [
        "nodes.ctrl.proj.weight"
    ]


TestEMAFeedback = feedback_conformance_tests("ema", specs=[{}, {"chunk_size": 2}])


def test_feedback_conformance_tests_is_a_conformance_class_around_the_loop() -> None:
    assert TestEMAFeedback.__name__ == "Conformance[feedback_ema]"
    assert {"test_chunking", "test_resets", "test_gradcheck"} <= set(vars(TestEMAFeedback))


# ---- trace plots -------------------------------------------------------------------------

VIEWS = ["weights", "gates"]


def good_plot(recording, out_dir, *, sample=0, prefix="toy"):
    data = trace_sample(recording, sample=sample, required="weights")
    folder = PlotFolder(out_dir, prefix)
    for view in VIEWS:
        figure, axes = new_figure(figsize=(2, 2))
        axes.plot(data[view].flatten().numpy())
        folder.save(figure, view)
    return folder.written


def record(**fields):
    batch = fields.get("batch", 3)
    return {"weights": torch.rand(batch, 4, 5), "gates": torch.rand(batch, 4, 1)}


TestToyPlots = trace_plot_tests(good_plot, record, views=VIEWS, specs=[{}, {"batch": 2}])


def run_all(cls, tmp_path, monkeypatch) -> None:
    """Every test of a generated class, as pytest would run them."""
    instance = cls()
    for index, fields in enumerate([{}]):
        instance.test_writes_one_png_per_view(fields=fields, tmp_path=tmp_path / f"views{index}")
    instance.test_refuses_an_empty_trace(tmp_path=tmp_path / "empty")
    instance.test_refuses_a_sample_outside_the_batch(tmp_path=tmp_path / "range")
    instance.test_without_matplotlib_says_what_to_install(tmp_path=tmp_path / "missing", monkeypatch=monkeypatch)


@pytest.mark.parametrize("defect", ["wrong view order", "not a png", "plots an empty trace", "wraps the index"])
def test_trace_plot_tests_catch_a_broken_plot_function(defect, tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")

    def broken(recording, out_dir, *, sample=0, prefix="toy"):
        if defect == "plots an empty trace" and not recording:
            return []
        if defect == "wraps the index" and recording:
            sample = sample % recording["weights"].shape[0]
        paths = good_plot(recording, out_dir, sample=sample, prefix=prefix)
        if defect == "wrong view order":
            paths = paths[::-1]
        if defect == "not a png":
            paths[0].write_bytes(b"GIF89a")
        return paths

    for path in (tmp_path / name for name in ("views0", "empty", "range", "missing")):
        path.mkdir()
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        run_all(trace_plot_tests(broken, record, views=VIEWS), tmp_path, monkeypatch)


def test_trace_plot_tests_needs_views_and_specs() -> None:
    with pytest.raises(ValueError, match="at least one view"):
        trace_plot_tests(good_plot, record, views=[])


# ---- saved outputs -----------------------------------------------------------------------


def test_saved_outputs_round_trip_and_catch_changes(tmp_path) -> None:
    torch.manual_seed(0)
    layer = engrammar.build("linear", in_features=3, out_features=2)
    path = save_outputs(layer, torch.randn(2, 4, 3), tmp_path / "sub" / "linear.pt")
    saved = load_saved_outputs(path)
    assert sorted(saved.state) == ["proj.bias", "proj.weight"] and saved.outputs.shape == (2, 4, 2)
    torch.manual_seed(1)
    fresh = engrammar.build("linear", in_features=3, out_features=2)
    check_saved_outputs(fresh, path)  # loads the saved parameters, so the outputs agree
    assert torch.equal(fresh.proj.weight, saved.state["proj.weight"])

    class Shifted(type(fresh)):
        def forward(self, x, state=None, resets=None):
            y, state = super().forward(x, state, resets)
            return y + 1e-3, state

    with pytest.raises(AssertionError, match="outputs differ from the saved ones by up to 0.001"):
        check_saved_outputs(Shifted(fresh.spec), path)
    with pytest.raises(AssertionError, match=r"does not fit.*unexpected \['proj.bias'\]"):
        check_saved_outputs(engrammar.build("linear", in_features=3, out_features=2, bias=False), path)
    torch.save({"state.w": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved-outputs file"):
        load_saved_outputs(tmp_path / "other.pt")


def test_saved_outputs_tests_pass_a_kept_rename_and_catch_a_lost_one(tmp_path) -> None:
    from engrammar.nn import rename_on_load
    from engrammar.testing import saved_outputs_tests

    torch.manual_seed(0)
    layer = engrammar.build("linear", in_features=3, out_features=2)
    saved = torch.load(save_outputs(layer, torch.randn(2, 4, 3), tmp_path / "new.pt"), weights_only=True)
    old = {key.replace("state.proj.", "state.affine."): value for key, value in saved.items()}
    torch.save(old, tmp_path / "old.pt")  # as if release 1 had named the layer "affine"
    renamed = {"affine.weight": "proj.weight", "affine.bias": "proj.bias"}

    def renaming(**fields):
        built = engrammar.build("linear", **fields)
        rename_on_load(built, {"affine.": "proj."})
        return built

    spec = {"in_features": 3, "out_features": 2}
    kept = saved_outputs_tests(renaming, tmp_path / "old.pt", spec, renamed=renamed)()
    kept.test_the_saved_checkpoint_loads_and_gives_its_outputs()
    kept.test_checkpoints_written_now_use_the_new_names(tmp_path=tmp_path)
    lost = saved_outputs_tests("linear", tmp_path / "old.pt", spec, renamed=renamed)()
    with pytest.raises(AssertionError, match="does not fit"):
        lost.test_the_saved_checkpoint_loads_and_gives_its_outputs()
    untested = saved_outputs_tests(renaming, tmp_path / "new.pt", spec, renamed=renamed)()
    with pytest.raises(AssertionError, match="does not test the rename"):
        untested.test_the_saved_checkpoint_loads_and_gives_its_outputs()


# ---- read-out options --------------------------------------------------------------------


def test_read_out_tests_catch_a_memory_that_misapplies_its_options() -> None:
    from engrammar.builtin.linear import Linear, LinearSpec
    from engrammar.nn import ReadOut
    from engrammar.spec import between, field, spec
    from engrammar.testing import read_out_tests

    @spec
    class ReadingSpec(LinearSpec):
        normalization: bool = field(default=False, doc="layer norm")
        dropout: float = field(default=0.0, validator=between(0.0, 0.99), doc="dropout")
        pass_through: bool = field(default=False, doc="append the input")

    class Reading(Linear):
        """A linear map read out through ReadOut; ``defect`` breaks one option."""

        spec_cls = ReadingSpec
        defect = ""

        def __init__(self, spec=None, **fields):
            super().__init__(spec, **fields)
            self.read_out = ReadOut.from_spec(self.spec.out_features, self.spec)

        @property
        def out_features(self):
            return self.read_out.out_features

        def _step(self, x_t, state):
            reads = self.proj(x_t)
            if self.defect == "dropout in eval" and self.read_out.dropout is not None:
                return torch.nn.functional.dropout(reads, 0.5, training=True), state
            if self.defect == "input first" and self.spec.pass_through:
                return torch.cat([x_t, reads], -1), state
            if self.defect == "norm ignored":
                return (reads if not self.spec.pass_through else torch.cat([reads, x_t], -1)), state
            return self.read_out(reads, x_t), state

        def _sequence(self, x, state):
            return torch.stack([self._step(x[:, t], state)[0] for t in range(x.shape[1])], 1), state

    spec_fields = {"in_features": 3, "out_features": 4}
    tests = read_out_tests(Reading, spec_fields)()
    for name in (
        "test_normalization_layer_norms_the_reads",
        "test_pass_through_appends_the_input",
        "test_dropout_acts_in_training_only",
    ):
        getattr(tests, name)()  # the correct memory passes
    for defect, name in (
        ("dropout in eval", "test_dropout_acts_in_training_only"),
        ("input first", "test_pass_through_appends_the_input"),
        ("norm ignored", "test_normalization_layer_norms_the_reads"),
    ):
        Reading.defect = defect
        try:
            with pytest.raises(AssertionError):
                getattr(tests, name)()
        finally:
            Reading.defect = ""


# ---- fast path against its oracle --------------------------------------------------------


def test_assert_matches_oracle_checks_values_and_gradients() -> None:
    from engrammar.testing import assert_matches_oracle, tensor_leaves

    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    fast = {"y": torch.softmax(x * w, -1), "pair": (x.sum(-1), None)}
    oracle = {"y": torch.exp(x * w) / torch.exp(x * w).sum(-1, keepdim=True), "pair": (x.sum(-1), None)}
    assert len(list(tensor_leaves(fast))) == 2
    assert_matches_oracle(fast, oracle, [x, w], nonzero_gradients=True)
    with pytest.raises(AssertionError, match="output 0"):
        assert_matches_oracle({"y": fast["y"] + 1e-6}, {"y": oracle["y"]}, [x, w])
    # same values, another gradient: a detached factor
    with pytest.raises(AssertionError, match="gradient of input 1"):
        assert_matches_oracle(torch.softmax(x * w.detach(), -1), oracle["y"], [x, w])
    unused = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    assert_matches_oracle(fast["y"], oracle["y"], [x, unused])
    with pytest.raises(AssertionError, match="gradient of input 1: all zero"):
        assert_matches_oracle(fast["y"], oracle["y"], [x, unused], nonzero_gradients=True)
    with pytest.raises(AssertionError, match="gave 1 tensors, the oracle 2"):
        assert_matches_oracle(fast["y"], [oracle["y"], x], [x])
