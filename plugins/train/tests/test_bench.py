"""``engrammar bench``: a CI-sized slice of the leaderboard end to end (parallel, then resumed with
a model more), the standard wiring, the summary's statuses, and bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import attrs
import engrammar
import pytest
from engrammar.cli import main
from engrammar_train import bench
from engrammar_train.model import build_for_task, build_task

SLICE = ["--tasks", "parity,n_back", "--steps", "4", "--seeds", "2", "--eval-every", "2", "--batch-size", "4"]


def _bench(out: Path, models: str, *extra: str) -> int:
    return main(["bench", "--models", models, *SLICE, "--out", str(out), *extra])


def test_a_small_slice_runs_resumes_and_reports(tmp_path: Path, capsys) -> None:
    out = tmp_path / "board"
    assert _bench(out, "lstm,gru", "--jobs", "2") == 0
    printed = capsys.readouterr().out
    assert "8 cell(s): 0 finished before, 8 to run in 2 process(es)" in printed
    cells = sorted(out.glob("cells/*/*/seed*.json"))
    assert [str(p.relative_to(out / "cells")) for p in cells] == [
        f"{m}/{t}/seed{s}.json" for m in ("gru", "lstm") for t in ("n_back", "parity") for s in (0, 1)
    ]
    record = json.loads((out / "cells/lstm/parity/seed1.json").read_text())
    assert record["settings"]["seed"] == 1 and record["settings"]["train"]["steps"] == 4
    assert [step for step, _ in record["curve"]] == [0, 2, 4]
    assert record["metric"] == record["curve"][-1][1]
    assert record["parameters"] > 0 and record["state_bytes"] > 0
    assert record["chance"] == 4.0 and record["threshold"] == pytest.approx(0.4)  # parity length 8: 8 bits scored

    rows = list(csv.DictReader((out / "bench.csv").open()))
    assert [(r["model"], r["task"]) for r in rows] == [
        ("lstm", "parity"),
        ("lstm", "n_back"),
        ("gru", "parity"),
        ("gru", "n_back"),
    ]
    assert all(r["seeds"] == "2" for r in rows)
    lstm_parity = json.loads((out / "cells/lstm/parity/seed0.json").read_text())["metric"]
    assert float(rows[0]["mean"]) == pytest.approx((lstm_parity + record["metric"]) / 2)
    table = (out / "bench.md").read_text()
    assert table.startswith("| model | parity (bit_errors ↓) | n_back (accuracy ↑) |")
    assert "| lstm | n_back | accuracy |" in table
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same command with one model more runs only that model's cells; the others are reused.
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    assert _bench(out, "lstm,gru,ema", "--jobs", "1") == 0
    printed = capsys.readouterr().out
    assert "12 cell(s): 8 finished before, 4 to run in 1 process(es)" in printed
    assert printed.count("] ema on ") == 4 and "] lstm on " not in printed
    assert {p: p.stat().st_mtime_ns for p in cells} == stamps
    assert len(list(csv.DictReader((out / "bench.csv").open()))) == 6

    # Another budget in the same folder is refused, in one line, before anything runs.
    assert main(["bench", "--models", "lstm", *SLICE[:2], "--steps", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "was run with other settings" in err


@pytest.mark.parametrize(
    "name",
    [
        "ema",
        "lstm",
        "gru",
        "transformer",
        "dnc",
        "ntm",
        "gated_deltanet",
        "gated_delta_rnn",
        "neural_memory",
        "ttt_linear",
        "kv_attention",
        "sliding_window",
    ],
)
def test_the_standard_wiring_builds_every_first_party_memory(name: str) -> None:
    wiring = bench.standard_wiring(name, width=16)
    assert list(wiring["nodes"]) == ["embed", "mem", "mix"]
    fields = wiring["nodes"]["mem"]
    spec_names = {f.name for f in attrs.fields(engrammar.registry.load(name).spec_cls)}
    assert set(fields) - {"use", "in"} <= spec_names  # only fields the component has
    if "hidden_size" in spec_names:
        assert fields["hidden_size"] == 16
    task, _ = build_task({"use": "n_back", "n": 2, "length": 6})
    model, recipe = build_for_task(wiring, task)
    assert (model.in_features, model.out_features) == (task.in_features, 1)
    assert recipe["nodes"]["readout"]["in"] == "mix"


def test_standard_wiring_fields_win_and_the_window_is_short() -> None:
    assert bench.standard_wiring("sliding_window", 32)["nodes"]["mem"]["window"] == 8
    ntm = bench.standard_wiring("ntm", 32, {"memory_size": 64})["nodes"]["mem"]
    assert ntm["memory_size"] == 64 and ntm["word_size"] == 8 and "hidden_size" not in ntm
    assert "hidden_size" not in bench.standard_wiring("ema", 32)["nodes"]["mem"]


def _record(model: str, task: str, seed: int, metric: float | None, reached: int | None = None) -> dict:
    record = {
        "model": model,
        "task": task,
        "seed": seed,
        "metric_name": "accuracy",
        "higher_is_better": True,
        "chance": 0.5,
        "threshold": 0.9,
        "seconds": 1.0,
    }
    if metric is None:
        record["error"] = "the loss is nan at step 3"
    else:
        record.update({"metric": metric, "steps_to_threshold": reached, "parameters": 10, "state_bytes": 64})
    return record


def test_statuses_scores_and_the_table_keep_cells_that_do_not_learn(tmp_path: Path) -> None:
    records = [
        *(_record("a", "t", s, 0.95, reached=100 * (s + 1)) for s in range(2)),
        _record("b", "t", 0, 0.92, reached=300),
        _record("b", "t", 1, 0.6),
        _record("c", "t", 0, 0.51),
        _record("c", "t", 1, 0.49),
        _record("d", "t", 0, None),
        _record("e", "t", 0, 0.6),
    ]
    summaries = {s.model: s for s in bench.summarize(records)}
    assert summaries["a"].status == "solved" and summaries["a"].steps_to_threshold == 150
    assert summaries["b"].status == "partly" and summaries["b"].solved_seeds == 1
    assert summaries["c"].status == "not learning" and summaries["c"].score == pytest.approx(0.0)
    assert summaries["c"].spread == pytest.approx(math.sqrt(2) * 0.01)
    assert summaries["d"].status == "failed" and math.isnan(summaries["d"].mean)
    assert summaries["e"].status == "learning" and summaries["e"].score == pytest.approx(0.25)
    paths = bench.write_reports(tmp_path, records, ["a", "b", "c", "d", "e"], ["t"])
    table = paths["markdown"].read_text()
    assert "| c | 0.5 ± 0.014 ✗ |" in table
    assert "| d | failed |" in table
    assert "| d | t | accuracy | — | 0.5 | 0.9 | failed: the loss is nan at step 3 | — (0/1) |" in table
    rows = {r["model"]: r for r in csv.DictReader(paths["csv"].open())}
    assert rows["c"]["status"] == "not learning" and rows["d"]["errors"] == "the loss is nan at step 3"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "lstm,lstm", "--tasks", "copy"], "error: --models: 'lstm' is listed twice"),
        (["--models", "lstm,", "--tasks", "copy"], "error: --models: expected comma-separated names, got 'lstm,'"),
        (["--models", "copy", "--tasks", "copy"], "error: --models: 'copy' is a task, not a memory or controller"),
        (["--models", "lstm", "--tasks", "lstm"], "error: --tasks: 'lstm' is a controller, not a task"),
        (["--models", "lstm", "--tasks", "copy", "--steps", "0"], "error: --steps: must be >= 1, got 0"),
        (["--models", "lstm", "--tasks", "copy", "--jobs", "0"], "error: --jobs: must be >= 1, got 0"),
        (["--models", "missing.yaml", "--tasks", "copy"], "error: --models: wiring file missing.yaml does not exist"),
        (["--models", "lstm", "--tasks", "copy", "--set", "parity.length=3"], "error: --set: parity.length: 'parity' is none of"),
        (["--models", "lstm", "--tasks", "copy", "--set", "copy.bits=0"], "error: copy.bits: must be >= 1"),
        (["--models", "lstm", "--tasks", "copy", "--set", "train.lr=-1"], "error: train.lr: must be > 0"),
        (["--models", "lstm", "--tasks", "copy", "--set", "lr"], "error: --set: expected PREFIX.FIELD=VALUE"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path: Path, capsys) -> None:
    out = tmp_path / "board"
    assert main(["bench", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert err.count("\n") == 1
    assert not out.exists()  # nothing ran


def test_an_unknown_name_gets_the_registry_message(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--models", "lstmm", "--tasks", "copy", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lstm" in err and err.count("\n") == 1


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys) -> None:
    file = tmp_path / "board"
    file.write_text("x")
    assert main(["bench", "--models", "lstm", "--tasks", "copy", "--out", str(file)]) == 2
    assert "is a file" in capsys.readouterr().err
