"""The memories under engrammar-train's trainer: the trace plot of every memory node is written
after training, named after the module path, the inner loop trains without error inside a wiring
(gradients reach the initial weights and the gates), and ``engrammar train`` logs the memories'
metrics (inner loss, gates, weight norm) and plots them."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from engrammar.cli import main
from engrammar.recorder import recording
from engrammar.registry import register, unregister
from engrammar.task import Task, TaskBatch
from engrammar.wiring import Wiring
from engrammar_train import Trainer, build_for_task
from engrammar_train.data import GeneratedBatches

PNG = b"\x89PNG\r\n\x1a\n"


unregister("recall_for_titans_tests")


@register("tasks", "recall_for_titans_tests")
class Recall(Task):
    """Repeat the input of two steps earlier: just enough of a task for the trainer to run."""

    metric_name = "loss"

    def __init__(self, spec=None) -> None:
        super().__init__(spec)

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


def test_engrammar_train_logs_and_plots_the_memory_metrics(tmp_path):
    wiring = {
        "name": "tiny_neural_memory",
        "in_features": 4,
        "nodes": {
            "mem": {"use": "neural_memory", "hidden_size": 6, "num_heads": 2, "head_dim": 3, "chunk_size": 4, "in": "x"}
        },
        "out": "mem",
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(wiring))
    out = tmp_path / "run"
    arguments = ["train", str(path), "--task", "recall_for_titans_tests", "--steps", "3", "--batch-size", "3"]
    settings = ["train.log_every=1", "train.eval_every=3", "train.eval_batches=1"]
    assert main([*arguments, "--out", str(out), "--no-progress", *(f"--set={s}" for s in settings)]) == 0
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in lines if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3]
    names = ("inner_loss", "lr", "momentum", "decay", "weight_norm")
    for line in train_lines:
        assert all(f"nodes.mem.{name}" in line for name in names), sorted(line)
        assert line["nodes.mem.inner_loss"] > 0 and line["nodes.mem.weight_norm"] > 0
        for gate in ("momentum", "decay"):
            assert 0 < line[f"nodes.mem.{gate}"] < 1
    # step 1's figures are the initial model's on the first training batch, in training mode
    torch.manual_seed(0)  # as engrammar train builds the model: the seed, then the wiring
    model, _ = build_for_task(str(path), Recall(), {})
    ((batch, _),) = GeneratedBatches(Recall(), 3, 0).batches(1)
    with recording(model) as record:
        model(batch.inputs)
    for name in names:
        assert train_lines[0][f"nodes.mem.{name}"] == pytest.approx(
            float(record.metrics[f"nodes.mem.{name}"]), rel=1e-5
        )
    assert (
        train_lines[1]["nodes.mem.weight_norm"] != train_lines[0]["nodes.mem.weight_norm"]
    )  # the outer step moved them
    assert (out / "components.png").read_bytes()[:8] == PNG
    from engrammar_titans.plots import plot_training

    assert plot_training(out).read_bytes()[:8] == PNG
