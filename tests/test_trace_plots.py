"""``engrammar train`` writes the trace plots of every memory in the model that reports a trace,
named after its module path: the trainer with the first-party memories that report traces."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.task import Task, TaskBatch
from engrammar.wiring import Wiring
from engrammar_train import Trainer

VIEWS = {
    "dnc": ["usage", "read_weights", "write_weights", "gates", "link"],
    "ntm": ["read_weights", "write_weights", "controls", "memory"],
}


class Echo(Task):
    """Reproduce random targets from random inputs: just enough of a task for the trainer to run."""

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


def train_one_step(model, out_dir):
    config = {"steps": 1, "batch_size": 2, "eval_every": 1, "eval_batches": 1}
    Trainer(model, Echo(model.out_features), config, out_dir=out_dir, progress=False).fit()


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_training_writes_the_plots_of_a_memory(name, tmp_path):
    pytest.importorskip("matplotlib")
    torch.manual_seed(0)
    train_one_step(engrammar.build(name, in_features=5, memory_size=6, word_size=4, num_reads=2), tmp_path)
    written = sorted(p.name for p in (tmp_path / "trace").glob("*.png"))
    assert written == sorted(f"model_{view}.png" for view in VIEWS[name])


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_training_names_the_plots_after_the_module_path(name, tmp_path):
    pytest.importorskip("matplotlib")
    wiring = Wiring(f"{name}_in_a_wiring", in_features=5)
    wiring.node("mem", name, memory_size=6, word_size=4, num_reads=2, inputs=wiring.x)
    wiring.node("head", "linear", out_features=3, inputs="mem")
    wiring.output("head")
    torch.manual_seed(0)
    train_one_step(wiring.build(), tmp_path)
    written = sorted(p.name for p in (tmp_path / "trace").glob("*.png"))
    assert written == sorted(f"nodes_mem_{view}.png" for view in VIEWS[name])


def test_training_a_model_without_a_traced_memory_writes_no_trace_plots(tmp_path):
    torch.manual_seed(0)
    train_one_step(engrammar.build("ema", in_features=5), tmp_path)
    assert not (tmp_path / "trace").exists()
