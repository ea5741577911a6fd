"""The tricks and loggers of the training hooks run inside Lightning (one implementation for both
trainers), their state goes into Lightning's checkpoints, and a run resumed from a Lightning
checkpoint ends where an uninterrupted one does."""

from __future__ import annotations

import json

import pytest
import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError
from engrammar_lightning import EngrammarDataModule, EngrammarModule, TrainingHooks
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning_support import largest_difference, parameters, quiet_trainer, regression

TRICKS = ["ghost_gradients:persistence=0.5", "synaptic_noise:std=0.001"]


class Calls:
    """Records which hook ran, at which step."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    @hookimpl
    def on_train_start(self, trainer) -> None:
        self.calls.append(("on_train_start", trainer.step))

    @hookimpl
    def on_epoch_end(self, trainer, epoch, metrics) -> None:
        assert "loss" in metrics
        self.calls.append(("on_epoch_end", trainer.step))

    @hookimpl
    def before_backward(self, trainer, loss):
        self.calls.append(("before_backward", trainer.step))

    @hookimpl
    def after_optimizer_step(self, trainer, optimizer) -> None:
        self.calls.append(("after_optimizer_step", trainer.step))


class Stop(Callback):
    """Interrupts a run after ``epochs`` epochs (its schedule still spans the whole run)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def data() -> EngrammarDataModule:
    x, y = regression(samples=16, steps=6)
    return EngrammarDataModule.from_tensors(x.float(), y.float(), batch_size=8, seed=3)


def module(**settings) -> EngrammarModule:
    return EngrammarModule("gru", data(), overrides={"hidden_size": 6}, lr=0.02, tbptt=3, seed=1,
                           schedule="cosine", **settings)  # fmt: skip


def test_hooks_fire_where_the_trainer_of_engrammar_train_fires_them(tmp_path) -> None:
    calls = Calls()
    quiet_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0).fit(module(hooks=[calls]), datamodule=data())
    names = [name for name, _ in calls.calls]
    assert names[0] == "on_train_start"
    # two batches an epoch, two chunks a batch: two backward passes before each optimizer step
    step = ["before_backward", "before_backward", "after_optimizer_step"]
    assert names[1:] == [*step, *step, "on_epoch_end", *step, *step, "on_epoch_end"]
    assert [s for name, s in calls.calls if name == "after_optimizer_step"] == [0, 1, 2, 3]  # the step in progress


def test_a_trick_changes_training_and_its_state_is_in_the_lightning_checkpoint(tmp_path) -> None:
    plain, tricked = module(), module(tricks=TRICKS)
    assert largest_difference(parameters(plain.model), parameters(tricked.model)) == 0.0
    quiet_trainer(tmp_path / "a", max_epochs=2).fit(plain, datamodule=data())
    trainer = quiet_trainer(tmp_path / "b", max_epochs=2)
    trainer.fit(tricked, datamodule=data())
    assert largest_difference(parameters(plain.model), parameters(tricked.model)) > 1e-4
    trainer.save_checkpoint(tmp_path / "t.ckpt")
    saved = torch.load(tmp_path / "t.ckpt", weights_only=False)["engrammar"]["tricks"]
    assert set(saved) == {"ghost_gradients", "synaptic_noise"}
    echo = saved["ghost_gradients"]["echo"]
    assert set(echo) == {n for n, _ in tricked.model.named_parameters()}


def test_a_run_resumed_from_a_lightning_checkpoint_ends_as_an_uninterrupted_one(tmp_path) -> None:
    straight = module(tricks=TRICKS)
    quiet_trainer(tmp_path / "straight", max_epochs=4).fit(straight, datamodule=data())

    first = module(tricks=TRICKS)
    keep = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    interrupted = quiet_trainer(tmp_path / "first", max_epochs=4, enable_checkpointing=True, callbacks=[keep, Stop(2)])
    interrupted.fit(first, datamodule=data())
    assert interrupted.global_step == 4
    # A fresh module, as a new process would make it: the checkpoint restores weights, optimizer,
    # schedule, position and the tricks' state (echoes, noise generators).
    resumed = module(tricks=TRICKS)
    trainer = quiet_trainer(tmp_path / "resumed", max_epochs=4)
    trainer.fit(resumed, datamodule=data(), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert trainer.global_step == 8
    assert largest_difference(parameters(straight.model), parameters(resumed.model)) < 1e-6
    # without the tricks' state the runs part: the noise and echoes matter
    unrestored = module(tricks=TRICKS)
    with pytest.warns(UserWarning, match="holds no state of this trick"):
        checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
        del checkpoint["engrammar"]
        torch.save(checkpoint, tmp_path / "bare.ckpt")
        quiet_trainer(tmp_path / "bare", max_epochs=4).fit(
            unrestored, datamodule=data(), ckpt_path=tmp_path / "bare.ckpt"
        )
    assert largest_difference(parameters(straight.model), parameters(unrestored.model)) > 1e-6


def test_the_loggers_of_engrammar_train_write_into_the_trainers_folder(tmp_path) -> None:
    trainer = quiet_trainer(tmp_path, max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(module(loggers=["jsonl"], log_every=1), datamodule=data())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in records if r["split"] == "eval"] == [2, 4]
    assert all({"loss", "grad_norm", "lr"} <= set(r) for r in records if r["split"] == "train")


def test_a_training_hooks_callback_given_to_the_trainer_serves_a_module_without_tricks(tmp_path) -> None:
    calls = Calls()
    hooks = TrainingHooks(tricks=["ema_weights:decay=0.5"], hooks=[calls])
    trainer = quiet_trainer(tmp_path, max_epochs=1, callbacks=[hooks], num_sanity_val_steps=0)
    trainer.fit(module(), datamodule=data())
    assert ("after_optimizer_step", 1) in calls.calls
    ema = next(p for p in hooks.manager.get_plugins() if type(p).__name__ == "EMAWeights")
    assert ema.updates == 2


def test_an_unknown_trick_or_option_is_named() -> None:
    with pytest.raises(SpecError, match=r"^tricks\[0\]: no trick named 'ghost_gradient'"):
        module(tricks=["ghost_gradient"])
    with pytest.raises(SpecError, match=r"^ghost_gradients.persistence: must be < 1.0"):
        module(tricks=["ghost_gradients:persistence=1.5"])
