"""Loggers switched on by name write the same records as metrics.jsonl: TensorBoard and MLflow
for real (their files read back with their own readers), and a logger of one's own."""

from __future__ import annotations

import json

import engrammar
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
from engrammar.cli import main
from engrammar.hooks import hookimpl
from engrammar_train import fit, train
from engrammar_train.extensions import installed_loggers

RUN = ["train", "ema", "--task", "echo_for_tests", "--steps", "4", "--no-progress", "--set", "train.eval_every=2"]


def records(out, split):
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if r["split"] == split]


def test_engrammar_train_registers_its_loggers_as_entry_points() -> None:
    assert {"jsonl", "plots", "tensorboard", "mlflow"} <= set(installed_loggers())


def test_tensorboard_gets_every_record(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main([*RUN, "--out", str(tmp_path), "--logger", "tensorboard", "--set", "train.log_every=1"]) == 0
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert loss == [(r["step"], pytest.approx(r["loss"])) for r in records(tmp_path, "train")]
    bit_errors = [(e.step, e.value) for e in events.Scalars("eval/bit_errors")]
    assert bit_errors == [(r["step"], pytest.approx(r["bit_errors"])) for r in records(tmp_path, "eval")]


def test_mlflow_gets_the_settings_and_every_record(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    result = train(
        "ema", "echo_for_tests", steps=4, batch_size=4, out=tmp_path, overrides=["train.eval_every=2"],
        loggers=["mlflow:experiment=tests"], progress=False,
    )  # fmt: skip
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tests")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["train.batch_size"] == "4" and run.data.params["task.use"] == "echo_for_tests"
    history = client.get_metric_history(run.info.run_id, "eval_bit_errors")
    assert [(m.step, m.value) for m in history] == [
        (r["step"], pytest.approx(r["bit_errors"])) for r in records(tmp_path, "eval")
    ]
    assert run.info.status == "FINISHED" and result.step == 4


def test_a_logger_of_ones_own_gets_the_records_on_the_hooks(tmp_path) -> None:
    class Collect:
        def __init__(self) -> None:
            self.seen: list[tuple[int, str]] = []

        @hookimpl
        def on_log(self, trainer, record) -> None:
            self.seen.append((record["step"], record["split"]))

    collect = Collect()
    history = fit("ema", "echo_for_tests", steps=4, batch_size=4, eval_every=2, log_every=2, loggers=[collect])
    assert collect.seen == [(0, "eval"), (2, "train"), (2, "eval"), (4, "train"), (4, "eval")]
    assert [(r["step"], r["split"]) for r in history.records] == collect.seen


def test_an_unknown_logger_is_a_one_line_error(tmp_path, capsys) -> None:
    assert main([*RUN, "--out", str(tmp_path), "--logger", "tensorbord"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.loggers[0]: no logger named 'tensorbord'; did you mean 'tensorboard'?")
    assert err.count("\n") == 1
    with pytest.raises(engrammar.SpecError, match="tensorboard.folders: unknown field; did you mean 'folder'"):
        train("ema", "echo_for_tests", steps=1, loggers=["tensorboard:folders=x"], progress=False)
