"""The memories under engrammar-train's trainer: the trace plot of every memory node is written
after training, named after the module path, and the inner loop trains without error inside a
wiring (gradients reach the initial weights and the gates)."""

from __future__ import annotations

import pytest
import torch
from engrammar.task import Task, TaskBatch
from engrammar.wiring import Wiring
from engrammar_train import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


class Recall(Task):
    """Repeat the input of two steps earlier: just enough of a task for the trainer to run."""

    metric_name = "loss"

    def __init__(self) -> None:
        super().__init__()

    @property
    def in_features(self) -> int:
        return 4

    @property
    def out_features(self) -> int:
        return 4

    def sample(self, batch_size, generator):
        inputs = torch.randn(batch_size, 9, 4, generator=generator)
        targets = torch.roll(inputs, 2, dims=1)
        mask = torch.ones(batch_size, 9, dtype=torch.bool)
        mask[:, :2] = False
        return TaskBatch(inputs, targets, mask)

    def loss(self, outputs, batch):
        return ((outputs - batch.targets) ** 2)[batch.mask].mean()

    def metrics(self, outputs, batch):
        return {"loss": float(self.loss(outputs, batch))}


@pytest.mark.parametrize("name", ["neural_memory", "ttt_mlp"])
def test_training_writes_the_memory_plot_named_after_the_node(tmp_path, name):
    wiring = Wiring(f"{name}_in_a_wiring", in_features=4)
    wiring.node("mem", name, hidden_size=6, num_heads=2, head_dim=3, chunk_size=4, inputs=wiring.x)
    wiring.node("head", "linear", out_features=4, inputs="mem")
    wiring.output("head")
    torch.manual_seed(0)
    model = wiring.build()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    config = {"steps": 2, "batch_size": 3, "eval_every": 2, "eval_batches": 1}
    Trainer(model, Recall(), config, out_dir=tmp_path, progress=False).fit()
    (written,) = sorted((tmp_path / "trace").glob("*.png"))
    assert written.name == "nodes_mem_memory.png" and written.read_bytes()[:8] == PNG
    for key in ("nodes.mem.initial_weights.w1", "nodes.mem.qkv_proj.weight"):
        assert not torch.equal(before[key], model.state_dict()[key]), key
