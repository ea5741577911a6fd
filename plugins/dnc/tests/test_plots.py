"""Plots of a trace: written as PNG from Python, and by the trainer for a traced memory."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.task import Task, TaskBatch
from engrammar.wiring import Wiring
from engrammar_dnc import DNC
from engrammar_dnc.plots import plot_trace
from engrammar_train import Trainer

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["usage", "read_weights", "write_weights", "gates", "link"]


def traced(**fields):
    """A DNC and the trace it reported over one call, recorded with traces=True."""
    torch.manual_seed(0)
    component = DNC(in_features=5, memory_size=6, word_size=4, num_reads=2, **fields)
    with engrammar.recording(component, traces=True) as record:
        component(torch.randn(3, 7, 5))
    return component, record.trace(component)


def test_plot_trace_writes_one_png_per_view(tmp_path):
    component, trace = traced()
    paths = component.plot_trace(trace, tmp_path, sample=1, prefix="mem")
    assert [p.name for p in paths] == [f"mem_{name}.png" for name in NAMES]
    for path in paths:
        assert path.read_bytes()[:8] == PNG


def test_plot_trace_accepts_stacked_tensors(tmp_path):
    _, trace = traced(num_writes=2)
    paths = plot_trace(trace, tmp_path)
    assert len(paths) == len(NAMES) and all(p.is_file() for p in paths)


def test_plotting_needs_a_trace(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_trace({}, tmp_path)
    component = DNC(in_features=5, memory_size=6)
    with engrammar.recording(component) as record:  # a recording keeps traces only when asked
        component(torch.randn(2, 3, 5))
    with pytest.raises(KeyError, match="traces=True"):
        record.trace(component)


class Echo(Task):
    """Reproduce the input: just enough of a task for the trainer to run."""

    metric_name = "loss"

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    @property
    def in_features(self) -> int:
        return 5

    @property
    def out_features(self) -> int:
        return self.width

    def sample(self, batch_size, generator):
        inputs = torch.randn(batch_size, 6, 5, generator=generator)
        targets = torch.randn(batch_size, 6, self.width, generator=generator)
        return TaskBatch(inputs, targets, torch.ones(batch_size, 6, dtype=torch.bool))

    def loss(self, outputs, batch):
        return ((outputs - batch.targets) ** 2).mean()

    def metrics(self, outputs, batch):
        return {"loss": float(self.loss(outputs, batch))}


def test_training_writes_the_plots_of_a_traced_memory(tmp_path):
    memory, _ = traced()
    config = {"steps": 1, "batch_size": 2, "eval_every": 1, "eval_batches": 1}
    Trainer(memory, Echo(memory.out_features), config, out_dir=tmp_path, progress=False).fit()
    written = sorted(p.name for p in (tmp_path / "trace").glob("*.png"))
    assert written == sorted(f"model_{name}.png" for name in NAMES)


def test_training_names_the_plots_after_the_module_path(tmp_path):
    wiring = Wiring("dnc_in_a_wiring", in_features=5)
    wiring.node("mem", "dnc", memory_size=6, word_size=4, num_reads=2, inputs=wiring.x)
    wiring.node("head", "linear", out_features=3, inputs="mem")
    wiring.output("head")
    torch.manual_seed(0)
    model = wiring.build()
    config = {"steps": 1, "batch_size": 2, "eval_every": 1, "eval_batches": 1}
    Trainer(model, Echo(3), config, out_dir=tmp_path, progress=False).fit()
    written = sorted(p.name for p in (tmp_path / "trace").glob("*.png"))
    assert written == sorted(f"nodes_mem_{name}.png" for name in NAMES)
