"""The application for real: a run composed from the shipped tree trains with Lightning and writes
its result; the command runs a tiny multirun into Hydra's folders with a summary; a misspelt
model field stops it with one line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from engrammar_hydra import CONFIG_DIR
from engrammar_hydra.app import run
from hydra import compose, initialize_config_dir

TINY = [
    "data.T=12",
    "data.train_size=32",
    "data.val_size=16",
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "+trainer.logger=false",
    "+module.schedule=constant",
]


def test_a_run_trains_the_composed_config_and_writes_its_result(tmp_path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="config", overrides=["model=z2_seam", "model.hidden_size=8", *TINY])
    result = run(cfg, tmp_path)
    assert result["steps"] == 4 and result["epochs"] == 2
    assert {"loss", "accuracy", "accuracy_after_switch"} <= set(result["metrics"])
    assert result["model"]["nodes"]["z2_seam"]["hidden_size"] == 8
    assert json.loads((tmp_path / "result.json").read_text())["steps"] == 4
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def command(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "engrammar_hydra", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip


def test_a_tiny_multirun_writes_hydra_folders_and_a_summary(tmp_path) -> None:
    done = command("-m", "model=z2_delta,lstm", "model.hidden_size=4", "hydra.sweep.dir=sweep", *TINY, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = tmp_path / "sweep"
    assert {p.name for p in sweep.iterdir()} >= {"0", "1", "multirun.yaml", "summary.csv", "summary.md"}
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["overrides"] for row in rows] == ["model=z2_delta", "model=lstm"]
    assert all(row["error"] == "" and 0.0 < float(row["val_loss"]) < 5.0 for row in rows)
    assert all(row["steps"] == "4" for row in rows)
    assert "| job | overrides | val_accuracy" in done.stdout
    assert (sweep / "0" / ".hydra" / "config.yaml").is_file()


def test_a_misspelt_model_field_is_one_line_and_exit_status_2(tmp_path) -> None:
    done = command("model.hiden_size=12", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "engrammar-hydra: error: model.hiden_size: unknown field; did you mean 'hidden_size'? (fields: in_features, "
        "hidden_size, delta_rank, use_parallel_scan, z2_symmetric, trace, gate_context)"
    ]
