"""A third party's training trick: a separate package with one entry point in ``engrammar.tricks``
is listed, built by name with its options, and called by the trainer (hook counts written to a
file). The fixture is installed with pip into a temporary folder (a real, non-editable install),
and every check runs in a subprocess that has that folder on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "acme_tricks"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "--target", str(target), str(FIXTURE)], check=True)
    return target


def run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_the_trick_is_listed_with_its_distribution(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "tricks")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "acme_counter" in line)
    assert "acme-tricks" in row and "0.2.0" in row and "Counts every training hook call" in row


def test_it_is_built_by_name_and_the_trainer_calls_it(site: Path, tmp_path: Path) -> None:
    counts = tmp_path / "counts.json"
    code = (
        "import engrammar, engrammar_train;"
        f"trick = engrammar.build('acme_counter', path={str(counts)!r});"
        "engrammar_train.train('lstm', 'copy', steps=4, batch_size=2, hooks=[trick], progress=False,"
        " overrides=['hidden_size=4', 'task.bits=2', 'task.max_length=2', 'train.eval_every=2']);"
        "print(type(trick).__module__)"
    )
    result = run(site, "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["acme_tricks.counter"]
    assert json.loads(counts.read_text()) == {
        "after_backward": 4,
        "after_optimizer_step": 4,
        "on_epoch_end": 2,
        "on_train_end": 1,
        "on_train_start": 1,
    }


def test_a_bad_option_is_named(site: Path) -> None:
    code = "import engrammar; engrammar.build('acme_counter', pth='x')"
    failed = run(site, "-c", code)
    assert failed.returncode != 0 and "acme_counter.pth: unknown field; did you mean 'path'?" in failed.stderr


def test_engrammar_train_runs_it_from_the_command_line(site: Path, tmp_path: Path) -> None:
    counts, out = tmp_path / "counts.json", tmp_path / "run"
    arguments = ["train", "lstm", "--task", "copy", "--steps", "2", "--batch-size", "2", "--out", str(out)]
    settings = ["hidden_size=4", "task.bits=2", "task.max_length=2", "train.eval_every=2"]
    trick = ["--trick", f"acme_counter:path={counts}", "--no-progress"]
    result = run(site, "-m", "engrammar.cli", *arguments, *trick, *(f"--set={s}" for s in settings), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(counts.read_text()) == {
        "after_backward": 2,
        "after_optimizer_step": 2,
        "on_epoch_end": 1,
        "on_train_end": 1,
        "on_train_start": 1,
    }
    saved = json.loads((out / "spec.json").read_text())
    assert saved["train"]["tricks"] == [f"acme_counter:path={counts}"]
