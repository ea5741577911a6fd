"""Bad input and failures: one clear message naming what is wrong, and nothing lost."""

from __future__ import annotations

import errno
import math
from pathlib import Path

import engrammar
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar.cli import main
from engrammar_train import fit, load_checkpoint
from engrammar_train.errors import CheckpointWriteError, NonFiniteLossError

LINEAR = {"use": "linear", "out_features": 2}


def data(samples: int = 12):
    torch.manual_seed(0)
    return torch.randn(samples, 3), torch.arange(samples) % 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x, y: (x, y[:-1]), "data: X has 12 samples and Y has 11: their first dimensions must match"),
        (lambda x, y: (x[:, :, None, None], y), r"data.X: expected sequences \(N, T, F\) or vectors \(N, F\), got shape \(12, 3, 1, 1\)"),
        (lambda x, y: (x, y.float()), r"data.Y: cross_entropy needs integer class indices \(N,\) or \(N, T\), got torch.float32"),
        (lambda x, y: (x, -y), "data.Y: class indices must be >= 0, got -1"),
        (lambda x, y: (x[:, None].expand(12, 4, 3), y[:, None].expand(12, 5)), "data.Y: per-step targets have 5 steps, the inputs 4"),
        (lambda x, y: (x, y, torch.ones(12, 2, dtype=torch.bool)), r"data.mask: per-sequence targets need a mask of shape \(12,\), got \(12, 2\)"),
    ],
)  # fmt: skip
def test_bad_tensors_are_named(make, message) -> None:
    x, y = data()
    with pytest.raises(engrammar.SpecError, match=message):
        fit(LINEAR, make(x, y), loss="cross_entropy", epochs=1)


def test_a_target_dtype_that_does_not_fit_the_loss() -> None:
    x, y = data()
    with pytest.raises(
        engrammar.SpecError, match=r"data.Y: mse needs float targets .*class indices: use loss=.cross_entropy."
    ):
        fit(LINEAR, (x, y), loss="mse", epochs=1)
    with pytest.raises(engrammar.SpecError, match="loss: unknown loss 'hinge'; choose cross_entropy, bce, mse"):
        fit(LINEAR, (x, y), loss="hinge", epochs=1)


def test_a_model_whose_width_does_not_fit_the_targets() -> None:
    x, y = data()
    narrow = engrammar.build("linear", in_features=3, out_features=1)
    with pytest.raises(
        engrammar.SpecError, match="model: writes 1 outputs; cross_entropy on class indices up to 1 needs at least 2"
    ):
        fit(narrow, (x, y), epochs=1)
    wide = engrammar.build("linear", in_features=3, out_features=4)
    with pytest.raises(
        engrammar.SpecError, match=r"model: the built component maps 3 -> 4 features, the task needs 3 -> 2"
    ):
        fit(wide, (x, torch.randn(12, 2)), loss="mse", epochs=1)
    # Given by name, the model gets a read-out to the targets' width instead.
    assert fit({"use": "linear", "out_features": 4}, (x, torch.randn(12, 2)), epochs=1).model.out_features == 2


def test_an_empty_dataloader() -> None:
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 3), torch.zeros(0, 2)))
    with pytest.raises(engrammar.SpecError, match="data: the DataLoader yields no batch"):
        fit(LINEAR, empty, loss="mse", epochs=1)
    x, y = data()
    with pytest.raises(engrammar.SpecError, match="data: no samples"):
        fit(LINEAR, (x[:0], y[:0]), epochs=1)


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path) -> None:
    x, _ = data(16)
    targets = torch.randn(16, 2)
    training_calls = {"n": 0}

    def poisoned(outputs, targets):
        """mse, except NaN in the 7th training step (evaluations run without gradients)."""
        loss = torch.nn.functional.mse_loss(outputs, targets)
        if torch.is_grad_enabled():
            training_calls["n"] += 1
            if training_calls["n"] == 7:
                return loss * math.nan
        return loss

    with pytest.raises(NonFiniteLossError) as caught:
        fit(LINEAR, (x, targets), loss=poisoned, epochs=3, batch_size=4, out=tmp_path)  # 4 steps per epoch
    assert str(caught.value) == (
        f"the loss is nan at step 7; training stopped before applying it, and the last good checkpoint is "
        f"{tmp_path / 'checkpoint.safetensors'} (step 4)"
    )
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 4 and all(torch.isfinite(t).all() for t in saved["model"].values())


def test_a_nan_loss_from_the_command_line_is_one_line(tmp_path, capsys) -> None:
    code = main(
        ["train", "ema", "--task", "echo_for_tests", "--steps", "10", "--out", str(tmp_path), "--no-progress",
         "--set", "train.lr=3e38", "--set", "train.optimizer=sgd", "--set", "train.grad_clip=0", "--set", "train.eval_every=1"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: the loss is ") and "training stopped before applying it" in err


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    import engrammar_train.checkpoint as checkpoint_module

    x, y = data(16)
    real_save = checkpoint_module.save_file
    writes = {"n": 0}

    def disk_fills_up(tensors, filename, metadata=None):
        writes["n"] += Path(filename).name.startswith(".checkpoint.")  # not best.safetensors
        if writes["n"] == 2:  # the second epoch's checkpoint: half written, then the disk is full
            with open(filename, "wb") as handle:
                handle.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint_module, "save_file", disk_fills_up)
    with pytest.raises(CheckpointWriteError) as caught:
        fit(LINEAR, (x, y), epochs=3, batch_size=8, out=tmp_path)  # 2 steps per epoch
    path = tmp_path / "checkpoint.safetensors"
    assert str(caught.value) == (
        f"{path}: could not write the checkpoint of step 4 (No space left on device); "
        "the checkpoint of step 2 there is intact"
    )
    assert load_checkpoint(path)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_bad_training_settings_from_the_command_line(tmp_path, capsys) -> None:
    base = ["train", "ema", "--task", "echo_for_tests", "--steps", "1", "--out", str(tmp_path), "--no-progress"]
    assert main([*base, "--strategy", "horovod"]) == 2
    assert "train.strategy: must be one of" in capsys.readouterr().err
    assert main([*base, "--precision", "8-bit"]) == 2
    assert "train.precision: must be one of" in capsys.readouterr().err
    assert main([*base, "--accelerator", "tpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train.accelerator: ") and err.count("\n") == 1
