"""Plots of a NTM trace: core's trace-plot cases on :func:`engrammar_ntm.plots.plot_trace`, and
the component's own ``plot_trace``. (That ``engrammar train`` writes them: tests/test_trace_plots.py.)"""

from __future__ import annotations

import pytest
import torch
from engrammar.testing import trace_plot_tests
from engrammar_ntm import NTM
from engrammar_ntm.plots import plot_trace

VIEWS = ["read_weights", "write_weights", "controls", "memory"]


def traced(**fields):
    torch.manual_seed(0)
    component = NTM(in_features=5, memory_size=6, word_size=4, num_reads=2, trace=True, **fields)
    component(torch.randn(3, 7, 5))
    return component


TestNTMTracePlots = trace_plot_tests(
    plot_trace, lambda **fields: traced(**fields).last_trace, views=VIEWS, specs=[{}, {"num_writes": 2}]
)


def test_plotting_needs_a_trace(tmp_path):
    with pytest.raises(ValueError, match="trace=True"):
        NTM(in_features=5, memory_size=6).plot_trace(tmp_path)
    component = traced()
    component.init_state(2)  # a fresh run starts an empty recording
    with pytest.raises(ValueError, match="empty"):
        plot_trace(component.last_trace, tmp_path)
