"""Checkpoints under faults: a training process killed (SIGKILL) at random moments, many times,
always leaves a checkpoint that loads and resumes to the very weights of an uninterrupted run
(bitwise, on the CPU); a damaged file is refused by name; a pickle is never unpickled.

Kills per run: 3 under the CI profile, 25 under ``engrammar-thorough``.
"""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engrammar.spec import SpecError
from engrammar.testing.profiles import THOROUGH, selected_profile

pytest.importorskip("engrammar_train", reason="engrammar-train provides checkpoints")

from engrammar_train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint

KILLS = 25 if selected_profile() == THOROUGH else 3
STEPS = 60
COMMAND = [
    sys.executable, "-m", "engrammar.cli", "train", "lstm", "--task", "copy", "--steps", str(STEPS),
    "--batch-size", "4", "--seed", "3", "--no-progress",
    "--set", "train.eval_every=5", "--set", "train.eval_batches=1", "--set", "train.log_every=5",
]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def train(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, "--out", str(out), *extra], env=ENV, capture_output=True, text=True, timeout=600)


def model_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / CHECKPOINT_NAME)["model"]


def assert_bitwise_equal(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    begun = time.monotonic()
    whole = train(tmp_path / "whole")
    whole_seconds = time.monotonic() - begun
    assert whole.returncode == 0, whole.stderr
    expected = model_weights(tmp_path / "whole")

    out = tmp_path / "killed"
    rng = random.Random(None if selected_profile() == THOROUGH else 0)
    kills = 0
    while kills < KILLS:
        process = subprocess.Popen(
            [*COMMAND, "--out", str(out), "--resume"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            process.wait(timeout=rng.uniform(0.3, whole_seconds))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:  # it finished before the kill came: start over, so that every kill lands inside a run
            assert process.returncode == 0
            for leftover in out.rglob("*"):
                if leftover.is_file():
                    leftover.unlink()
        checkpoint = out / CHECKPOINT_NAME
        if checkpoint.exists():  # whatever moment the kill came, the file there is whole
            assert 0 < load_checkpoint(checkpoint)["step"] <= STEPS

    finished = train(out, "--resume")
    assert finished.returncode == 0, finished.stderr
    assert_bitwise_equal(model_weights(out), expected)


def test_a_damaged_checkpoint_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, {"model": {"weight": torch.arange(64, dtype=torch.float32)}, "step": 3})
    assert torch.equal(load_checkpoint(path)["model"]["weight"], torch.arange(64, dtype=torch.float32))
    good = path.read_bytes()

    flipped = bytearray(good)
    flipped[-5] ^= 0xFF  # a bit of a weight, past the header
    path.write_bytes(bytes(flipped))
    with pytest.raises(SpecError, match="damaged checkpoint.*SHA-256") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)

    path.write_bytes(good[: len(good) // 2])  # cut short, as by a full disk or a partial copy
    with pytest.raises(SpecError) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


class Payload:
    """Unpickling this runs code: it creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", [CHECKPOINT_NAME, "model.pth", "model.pt"])
def test_a_pickle_payload_is_never_unpickled(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / name
    with open(path, "wb") as handle:
        pickle.dump({"model": Payload(marker)}, handle)
    torch.save({"model": Payload(marker)}, tmp_path / "torch.pth")
    for candidate in (path, tmp_path / "torch.pth"):
        with pytest.raises(SpecError) as caught:
            load_checkpoint(candidate)
        assert str(candidate) in str(caught.value)
    assert not marker.exists()
