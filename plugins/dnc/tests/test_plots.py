"""Plots of a trace: written as PNG from Python and by the TracePlots training hook."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from engrammar.task import TaskBatch
from engrammar_dnc import DNC
from engrammar_dnc.plots import TracePlots, plot_trace
from torch import nn

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["usage", "read_weights", "write_weights", "gates", "link"]


def traced(**fields):
    torch.manual_seed(0)
    component = DNC(in_features=5, memory_size=6, word_size=4, num_reads=2, trace=True, **fields)
    component(torch.randn(3, 7, 5))
    return component


def test_plot_trace_writes_one_png_per_view(tmp_path):
    paths = traced().plot_trace(tmp_path, sample=1, prefix="mem")
    assert [p.name for p in paths] == [f"mem_{name}.png" for name in NAMES]
    for path in paths:
        assert path.read_bytes()[:8] == PNG


def test_plot_trace_accepts_stacked_tensors(tmp_path):
    paths = plot_trace(traced(num_writes=2).last_trace.stacked(), tmp_path)
    assert len(paths) == len(NAMES) and all(p.is_file() for p in paths)


def test_plotting_needs_a_trace(tmp_path):
    with pytest.raises(ValueError, match="trace=True"):
        DNC(in_features=5, memory_size=6).plot_trace(tmp_path)
    component = traced()
    component.init_state(2)  # a fresh run starts an empty recording
    with pytest.raises(ValueError, match="empty"):
        plot_trace(component.last_trace, tmp_path)


class Model(nn.Module):
    def __init__(self, memory):
        super().__init__()
        self.mem = memory

    def forward(self, x):
        return self.mem(x)


def fake_trainer(memory, out_dir):
    def sample(batch_size, generator):
        inputs = torch.randn(batch_size, 6, 5, generator=generator)
        return TaskBatch(inputs, inputs, torch.ones(batch_size, 6, dtype=torch.bool))

    return SimpleNamespace(model=Model(memory), task=SimpleNamespace(sample=sample), out_dir=out_dir)


def test_trace_plots_hook_plots_traced_memories_at_train_end(tmp_path):
    hook = TracePlots()
    hook.on_train_end(trainer=fake_trainer(traced(), tmp_path))
    assert sorted(p.name for p in hook.written) == sorted(f"mem_{name}.png" for name in NAMES)
    assert all(p.parent == tmp_path / "trace" for p in hook.written)


def test_trace_plots_hook_ignores_untraced_memories(tmp_path):
    hook = TracePlots()
    hook.on_train_end(trainer=fake_trainer(DNC(in_features=5, memory_size=6), tmp_path))
    assert hook.written == [] and not (tmp_path / "trace").exists()
