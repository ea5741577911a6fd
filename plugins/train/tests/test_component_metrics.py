"""Metrics the model's components report (``engrammar.report_metric``) reach the training lines of
metrics.jsonl, TensorBoard, MLflow and ``components.png``, under their module paths, averaged over
truncation chunks by time steps and over the steps of a logging window."""

from __future__ import annotations

import json

import pytest
import test_training_support  # noqa: F401  (registers the test task)
import torch
from engrammar.component import Component
from engrammar.recorder import report_metric
from engrammar.registry import register, unregister
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import State, StateEntry
from engrammar_train import train
from engrammar_train.metrics import ComponentMetrics
from torch import Tensor, nn

unregister("counting_rnn_for_tests")


@spec
class CountingSpec(ComponentSpec):
    hidden_size: int = field(default=4, validator=ge(1), doc="width")


@register("memories", "counting_rnn_for_tests")
class Counting(Component):
    """A tanh RNN that reports 1 per time step it runs (``steps_seen``: the length of each call,
    since reports in one recording add up) and its weight norm."""

    spec_cls = CountingSpec

    def __init__(self, spec: CountingSpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        self.cell = nn.RNNCell(self.in_features, self.spec.hidden_size)

    @property
    def out_features(self) -> int:
        return self.spec.hidden_size

    def state_spec(self) -> dict[str, StateEntry]:
        return {"h": StateEntry((self.spec.hidden_size,))}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        report_metric(self, "steps_seen", 1.0)
        report_metric(self, "not_a_number", torch.ones(3))  # several entries: not logged
        h = self.cell(x_t, state["h"])
        return h, {"h": h}


WIRING = {
    "name": "counting_for_tests",
    "in_features": 3,
    "nodes": {"ctrl": {"use": "counting_rnn_for_tests", "in": "x"}},
    "out": "ctrl",
}


def _lines(out, split="train"):
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [line for line in lines if line["split"] == split]


def test_training_lines_carry_the_components_metrics_weighted_by_time_steps(tmp_path) -> None:
    # length 9 in truncation chunks of 4, 4, 1: each chunk's call reports its length; weighted by
    # time steps the mean is (4*4 + 4*4 + 1*1) / 9, unweighted it would be 3
    settings = ["task.length=9", "train.tbptt=4", "train.accumulate=2", "train.log_every=2", "train.eval_every=4"]
    result = train(WIRING, "echo_for_tests", steps=4, batch_size=2, out=tmp_path, overrides=settings, progress=False)
    lines = _lines(tmp_path)
    assert [line["step"] for line in lines] == [2, 4]
    for line in lines:
        assert line["nodes.ctrl.steps_seen"] == pytest.approx(33 / 9)
        assert not any("not_a_number" in key for key in line)
    assert all("nodes.ctrl.steps_seen" not in line for line in _lines(tmp_path, "eval"))
    assert (tmp_path / "components.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tmp_path / "components.png" in result.plots


def test_a_model_without_component_metrics_writes_no_components_plot(tmp_path) -> None:
    train(
        "ema", "echo_for_tests", steps=2, batch_size=2, out=tmp_path, overrides=["train.eval_every=2"], progress=False
    )
    assert not (tmp_path / "components.png").exists()
    assert all(
        set(line) == {"step", "split", "bit_errors", "loss", "grad_norm", "lr", "seconds"} for line in _lines(tmp_path)
    )


def test_the_model_itself_reporting_gets_the_model_prefix() -> None:
    means = ComponentMetrics()
    means.add({"inner_loss": 2.0, "nodes.a.x": torch.tensor(1.0)}, 1.0)
    means.add({"inner_loss": 5.0, "nodes.a.x": torch.tensor(4.0)}, 2.0)
    assert means.means() == {"model.inner_loss": 4.0, "nodes.a.x": 3.0}


def test_tensorboard_and_mlflow_get_the_components_metrics(tmp_path) -> None:
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(
        WIRING, "echo_for_tests", steps=2, batch_size=2, out=tmp_path, progress=False,
        overrides=["train.log_every=1", "train.eval_every=2"], loggers=["tensorboard", "mlflow:experiment=tests"],
    )  # fmt: skip
    expected = [(line["step"], pytest.approx(line["nodes.ctrl.steps_seen"])) for line in _lines(tmp_path)]
    assert len(expected) == 2
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/nodes.ctrl.steps_seen")] == expected
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    history = client.get_metric_history(run.info.run_id, "train_nodes.ctrl.steps_seen")
    assert [(m.step, m.value) for m in history] == expected
