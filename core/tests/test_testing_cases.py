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
    instance.test_refuses_an_empty_recording(tmp_path=tmp_path / "empty")
    instance.test_refuses_a_sample_outside_the_batch(tmp_path=tmp_path / "range")
    instance.test_without_matplotlib_says_what_to_install(tmp_path=tmp_path / "missing", monkeypatch=monkeypatch)


@pytest.mark.parametrize("defect", ["wrong view order", "not a png", "plots an empty recording", "wraps the index"])
def test_trace_plot_tests_catch_a_broken_plot_function(defect, tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")

    def broken(recording, out_dir, *, sample=0, prefix="toy"):
        if defect == "plots an empty recording" and not recording:
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
