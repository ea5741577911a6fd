"""Plots of a DNC trace: core's trace-plot cases on :func:`engrammar_dnc.plots.plot_trace`, fed the
trace the component reported to a recording, and the component's own ``plot_trace``. (That
``engrammar train`` writes them: tests/test_trace_plots.py.)"""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.testing import trace_plot_tests
from engrammar_dnc import DNC
from engrammar_dnc.plots import plot_trace

VIEWS = ["usage", "read_weights", "write_weights", "gates", "link"]


def traced(**fields):
    """A DNC and the trace it reported over one call, recorded with traces=True."""
    torch.manual_seed(0)
    component = DNC(in_features=5, memory_size=6, word_size=4, num_reads=2, **fields)
    with engrammar.recording(component, traces=True) as record:
        component(torch.randn(3, 7, 5))
    return component, record.trace(component)


TestDNCTracePlots = trace_plot_tests(
    plot_trace, lambda **fields: traced(**fields)[1], views=VIEWS, specs=[{}, {"num_writes": 2}]
)


def test_the_component_plots_the_trace_it_reported(tmp_path):
    pytest.importorskip("matplotlib")
    component, trace = traced()
    paths = component.plot_trace(trace, tmp_path, sample=1, prefix="mem")
    assert [path.name for path in paths] == [f"mem_{view}.png" for view in VIEWS]


def test_a_recording_keeps_traces_only_when_asked(tmp_path):
    component = DNC(in_features=5, memory_size=6)
    with engrammar.recording(component) as record:
        component(torch.randn(2, 3, 5))
    with pytest.raises(KeyError, match="traces=True"):
        record.trace(component)
