"""Plot scaffolding (engrammar.nn.plotting): one clear error without matplotlib; with it, named PNG
files, heatmaps of the values given, and one batch element of a recording."""

from __future__ import annotations

import sys

import pytest
import torch
from engrammar.nn import Trace, plotting

PNG = b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_plotting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r"plotting needs matplotlib.*pip install matplotlib"):
        plotting.new_figure()


def test_core_imports_no_matplotlib() -> None:
    code = "import engrammar, engrammar.nn, engrammar.nn.plotting, sys; print(any(m.startswith('matplotlib') for m in sys.modules))"
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_plot_folder_writes_named_pngs_in_order(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    folder = plotting.PlotFolder(tmp_path / "sub", prefix="mem")
    for name in ("first", "second"):
        figure, axes = plotting.new_figure(1, 2, figsize=(4, 3), squeeze=False)
        axes[0, 0].plot([0, 1], [1, 0], label="a line")
        plotting.time_axes(axes[0, 0], "lines", ylim=(0, 1))
        plotting.time_axes(axes[0, 1], "empty")
        assert axes[0, 0].get_legend() is not None and axes[0, 1].get_legend() is None
        assert axes[0, 0].get_ylim() == (0.0, 1.0) and axes[0, 0].get_xlabel() == "time step"
        folder.save(figure, name)
    assert [p.name for p in folder.written] == ["mem_first.png", "mem_second.png"]
    assert all(p.read_bytes()[:8] == PNG for p in folder.written)


def test_heatmap_shows_the_values_given(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    values = torch.rand(5, 7, dtype=torch.float64, requires_grad=True)
    figure, axes = plotting.new_figure(layout="constrained")
    image = plotting.heatmap(axes, values, "weights", xlabel="cell")
    assert torch.equal(torch.as_tensor(image.get_array()), values.detach().float())
    assert axes.get_title() == "weights" and axes.get_xlabel() == "cell" and axes.get_ylabel() == "time step"
    assert len(figure.axes) == 2  # the plot and its colour bar
    path = plotting.save_figure(figure, tmp_path / "heat.png", dpi=50)
    assert path.read_bytes()[:8] == PNG


def test_trace_sample_selects_one_batch_element() -> None:
    record = {"usage": torch.arange(24.0, dtype=torch.float64).reshape(2, 3, 4), "link": torch.ones(2, 4, 4)}
    accumulated = Trace()  # what a recording keeps per module, stacked on demand
    accumulated.record_sequence({"usage": record["usage"]}, final={"link": record["link"]})
    for source in (record, accumulated):
        data = plotting.trace_sample(source, sample=1, required="usage")
        assert data["usage"].dtype == torch.float32 and torch.equal(data["usage"], record["usage"][1].float())
        assert data["link"].shape == (4, 4)
    with pytest.raises(ValueError, match=r"the trace is empty \(no 'usage' recorded\)"):
        plotting.trace_sample({}, sample=0, required="usage")
    with pytest.raises(IndexError, match="sample 2 is out of range: the trace holds 2"):
        plotting.trace_sample(record, sample=2, required="usage")
    with pytest.raises(TypeError, match="mapping of tensors"):
        plotting.trace_sample([1, 2], sample=0, required="usage")
