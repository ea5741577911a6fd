"""Data-parallel training on the CPU with 2 processes (DDP over gloo, started by Lightning Fabric):
both processes hold identical parameters, equal to one process trained on the same global batch;
metrics are written once; a checkpoint written by 2 processes resumes in 1, and one written by 1
resumes in 2. Each test starts 2 processes (about 20 s each on a small CPU machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ddp_run
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar_train import fit, load_checkpoint, train
from safetensors.torch import load_file

SCRIPT = str(Path(ddp_run.__file__))
#: float64 throughout: one process and two differ by rounding only (observed about 1e-16)
TOLERANCE = 1e-5
SETTINGS = {
    "epochs": 3,
    "batch_size": 12,
    "lr": 0.01,
    "seed": 2,
    "precision": "64-true",
    "accelerator": "cpu",
    "hidden_size": 6,
    "dropout": 0.0,
    "schedule": "cosine",
    "log_every": 1,
}


def two_processes(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def assert_close(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        assert float((a[key].detach().double() - b[key].detach().double()).abs().max()) <= TOLERANCE, key


def test_two_processes_train_as_one_and_their_checkpoint_resumes_in_one(tmp_path) -> None:
    ddp = tmp_path / "ddp"
    two_processes("fit", str(ddp), json.dumps({**SETTINGS, "devices": 2, "strategy": "ddp", "until": 7}))
    rank0, rank1 = load_file(ddp / "rank0.safetensors"), load_file(ddp / "rank1.safetensors")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # identical, bit for bit
    one = fit("noisy_rnn_for_tests", ddp_run.regression(), loss="mse", until=7, **SETTINGS)
    assert one.step == 7
    assert_close(rank0, dict(one.model.named_parameters()))
    lines = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["split"] == "train"] == list(range(1, 8))  # written once
    saved = load_checkpoint(ddp)
    assert saved["world_size"] == 2 and saved["step"] == 7

    resumed = fit("noisy_rnn_for_tests", ddp_run.regression(), loss="mse", out=ddp, resume=True, **SETTINGS)
    straight = fit("noisy_rnn_for_tests", ddp_run.regression(), loss="mse", **SETTINGS)
    assert resumed.step == straight.step == 12
    assert_close(dict(resumed.model.named_parameters()), dict(straight.model.named_parameters()))


def test_a_run_of_one_process_resumes_in_two_from_the_command_line(tmp_path) -> None:
    run = ["echo_for_tests", "--steps", "8", "--batch-size", "6", "--precision", "64-true", "--accelerator", "cpu"]
    settings = [
        "--set",
        "train.eval_every=4",
        "--set",
        "train.lr=0.02",
        "--set",
        "hidden_size=5",
        "--set",
        "dropout=0.0",
    ]
    out = tmp_path / "run"
    first = train(
        "noisy_rnn_for_tests", "echo_for_tests", steps=8, batch_size=6, out=out, until=4, progress=False,
        overrides=["train.eval_every=4", "train.lr=0.02", "hidden_size=5", "dropout=0.0", "train.precision=64-true",
                   "train.accelerator=cpu"],
    )  # fmt: skip
    assert first.step == 4
    two_processes(
        "cli", "train", "noisy_rnn_for_tests", "--task", *run, *settings, "--out", str(out), "--resume",
        "--devices", "2", "--strategy", "ddp", "--no-progress",
    )  # fmt: skip
    resumed = load_checkpoint(out)
    assert resumed["step"] == 8 and resumed["world_size"] == 2
    straight = train(
        "noisy_rnn_for_tests", "echo_for_tests", steps=8, batch_size=6, progress=False,
        overrides=["train.eval_every=4", "train.lr=0.02", "hidden_size=5", "dropout=0.0", "train.precision=64-true",
                   "train.accelerator=cpu"],
    )  # fmt: skip
    assert_close(resumed["model"], dict(straight.model.state_dict()))
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["step"]) for r in evals if r["split"] == "eval"] == [("eval", 0), ("eval", 4), ("eval", 8)]
    assert (out / "loss.png").is_file()
