"""Sweeps from the command line: the Cartesian product of the --set choices, one folder per run,
a summary table (CSV and printed)."""

from __future__ import annotations

import csv
import json

import test_training_support  # noqa: F401  (registers the test task and component)
from engrammar.cli import main
from engrammar_train.sweep import run_name, sweep_points


def test_points_are_the_cartesian_product_and_names_say_the_settings() -> None:
    points, varying = sweep_points(["train.lr=0.01,0.02", "hidden_size=4,6,8", "task.length=5"])
    assert len(points) == 6 and varying == ["train.lr", "hidden_size"]
    assert points[0] == {"train.lr": 0.01, "hidden_size": 4, "task.length": 5}
    assert points[-1] == {"train.lr": 0.02, "hidden_size": 8, "task.length": 5}
    assert run_name(3, {"train.lr": 0.02, "nodes.mem.memory_size": 16}) == "03-lr=0.02,memory_size=16"
    assert run_name(0, {"name": "a b/c"}) == "00-name=a_b_c"


def test_a_sweep_runs_each_point_in_its_folder_and_writes_a_summary(tmp_path, capsys) -> None:
    code = main(
        ["train", "noisy_rnn_for_tests", "--task", "echo_for_tests", "-m", "--steps", "2", "--batch-size", "4",
         "--out", str(tmp_path), "--no-progress", "--set", "train.lr=0.01,0.03", "--set", "hidden_size=4,6",
         "--set", "dropout=0.0", "--set", "train.eval_every=2"]
    )  # fmt: skip
    assert code == 0
    with (tmp_path / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["train.lr"], r["hidden_size"]) for r in rows] == [
        ("0.01", "4"),
        ("0.01", "6"),
        ("0.03", "4"),
        ("0.03", "6"),
    ]
    for row in rows:
        spec = json.loads((tmp_path / row["run"] / "spec.json").read_text())
        assert spec["train"]["lr"] == float(row["train.lr"])
        assert spec["model"]["nodes"]["noisy_rnn_for_tests"]["hidden_size"] == int(row["hidden_size"])
        last_eval = [json.loads(line) for line in (tmp_path / row["run"] / "metrics.jsonl").read_text().splitlines()][
            -1
        ]
        assert float(row["bit_errors"]) == last_eval["bit_errors"] and row["steps"] == "2"
    printed = capsys.readouterr().out
    assert "4 run(s)" in printed and "00-lr=0.01,hidden_size=4" in printed


def test_a_failing_point_is_reported_and_the_sweep_goes_on(tmp_path, capsys) -> None:
    code = main(
        ["train", "noisy_rnn_for_tests", "--task", "echo_for_tests", "-m", "--steps", "1", "--out", str(tmp_path),
         "--no-progress", "--set", "hidden_size=0,3"]
    )  # fmt: skip
    assert code == 1
    with (tmp_path / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert "hidden_size: must be >= 1, got 0" in rows[0]["error"] and rows[1]["error"] == ""
    assert rows[1]["steps"] == "1"
