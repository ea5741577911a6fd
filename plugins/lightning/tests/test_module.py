"""EngrammarModule on Lightning's own Trainer: it learns, its truncated backpropagation carries the
state across chunks and cuts the gradient between them, and bad settings are named."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError
from engrammar.state import detach_state
from engrammar_lightning import EngrammarDataModule, EngrammarModule
from lightning_support import parameters, quiet_trainer, regression


def test_a_short_fit_on_tensors_lowers_the_validation_loss(tmp_path) -> None:
    x, y = regression(samples=48)
    data = EngrammarDataModule.from_tensors(x.float(), y.float(), batch_size=8, val=0.25)
    module = EngrammarModule("gru", data, overrides={"hidden_size": 16}, lr=0.02, tbptt=3)
    trainer = quiet_trainer(tmp_path, max_epochs=12)
    before = trainer.validate(module, datamodule=data, verbose=False)[0]["val_loss"]
    trainer.fit(module, datamodule=data)
    after = float(trainer.callback_metrics["val_loss"])
    assert trainer.global_step == 12 * 5  # 36 training samples in batches of 8, one step each
    assert after < 0.5 * before, (before, after)


def test_a_registry_task_trains_through_the_datamodule(tmp_path) -> None:
    data = EngrammarDataModule("antipodal", T=30, train_size=32, val_size=16, batch_size=16)
    module = EngrammarModule("lstm", data, overrides={"hidden_size": 8}, lr=0.01, schedule="constant")
    quiet_trainer(tmp_path, max_epochs=2).fit(module, datamodule=data)
    metrics = module.validation_metrics()
    assert {"loss", "accuracy", "accuracy_after_switch"} <= set(metrics)
    assert module.model.in_features == 4 and module.model.out_features == 2  # the read-out was added


class GradientGrabber:
    """A hook object: the gradients after every backward pass of a step."""

    def __init__(self) -> None:
        self.gradients: list[dict[str, torch.Tensor]] = []

    @hookimpl
    def after_backward(self, trainer) -> None:
        self.gradients.append({n: p.grad.detach().clone() for n, p in trainer.model.named_parameters()})


def reference_gradient(model: torch.nn.Module, task, x, y, chunk: int) -> dict[str, torch.Tensor]:
    """The obvious definition: one loss over the whole sequence, each chunk's task loss weighted by
    its share of the positions, the state detached at every chunk boundary; one backward pass."""
    from engrammar.task import TaskBatch

    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    total, state, loss = mask.sum(), None, 0.0
    for start in range(0, x.shape[1], chunk):
        part = TaskBatch(x[:, start : start + chunk], y[:, start : start + chunk], mask[:, start : start + chunk])
        out, state = model(part.inputs, state)
        loss = loss + task.loss(out, part) * (part.mask.sum() / total)
        state = detach_state(state)
    model.zero_grad()
    loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("chunk", [2, 4, 7])
def test_truncated_backpropagation_equals_the_detached_whole_sequence_loss(tmp_path, chunk) -> None:
    x, y = regression(samples=4, steps=7)
    grabber = GradientGrabber()
    data = EngrammarDataModule.from_tensors(x, y, batch_size=4)
    module = EngrammarModule("lstm", data, overrides={"hidden_size": 5}, tbptt=chunk, hooks=[grabber],
                             schedule="constant", grad_clip=0.0)  # fmt: skip
    module.double()
    start = parameters(module.model)
    quiet_trainer(tmp_path, max_steps=1, num_sanity_val_steps=0, limit_val_batches=0).fit(module, datamodule=data)
    fresh = engrammar.build(module.recipe).double()
    fresh.load_state_dict(start)
    expected = reference_gradient(fresh, module.task, x, y, chunk)
    (seen,) = grabber.gradients
    for name, gradient in expected.items():
        torch.testing.assert_close(seen[name], gradient, rtol=1e-10, atol=1e-12)
    # and the truncation matters: the whole-sequence gradient differs
    whole = reference_gradient(fresh, module.task, x, y, 7)
    if chunk < 7:
        assert any(not torch.allclose(whole[n], expected[n]) for n in whole)


class NormSeen:
    """A hook object: the global gradient norm the optimizer is about to use, at every step."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    @hookimpl
    def before_optimizer_step(self, trainer, optimizer) -> None:
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def test_clipping_caps_the_gradient_norm_the_optimizer_sees(tmp_path) -> None:
    x, y = regression(samples=8)
    norm = NormSeen()
    data = EngrammarDataModule.from_tensors(x * 50, y * 50, batch_size=8)
    module = EngrammarModule("gru", data, hooks=[norm], grad_clip=0.5, lr=1e-3, schedule="constant")
    quiet_trainer(tmp_path, max_steps=3, num_sanity_val_steps=0, limit_val_batches=0).fit(module, datamodule=data)
    assert len(norm.norms) == 3 and max(norm.norms) <= 0.5 + 1e-5
    assert float(module.trainer.callback_metrics["grad_norm"]) > 0.5  # the norm logged is before clipping


def test_the_default_schedule_is_onecycle_over_the_run(tmp_path) -> None:
    x, y = regression(samples=16)
    data = EngrammarDataModule.from_tensors(x.float(), y.float(), batch_size=4)
    module = EngrammarModule("gru", data, lr=0.01)
    trainer = quiet_trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    (config,) = trainer.lr_scheduler_configs
    assert type(config.scheduler).__name__ == "OneCycleLR"
    assert config.scheduler.total_steps == 8 and config.scheduler.last_epoch == 8
    assert type(trainer.optimizers[0]).__name__ == "AdamW"


def test_settings_of_the_lightning_trainer_and_misspelt_ones_are_named() -> None:
    with pytest.raises(SpecError, match=r"^settings.precision: belongs to the Lightning Trainer"):
        EngrammarModule("gru", "mse", in_features=3, out_features=2, precision="16-mixed")
    with pytest.raises(SpecError, match=r"^settings.tbpt: unknown setting; did you mean 'tbptt'\?"):
        EngrammarModule("gru", "mse", in_features=3, out_features=2, tbpt=4)
    with pytest.raises(SpecError, match=r"^settings.lr: must be > 0"):
        EngrammarModule("gru", "mse", in_features=3, out_features=2, lr=0.0)
    with pytest.raises(SpecError, match=r"^in_features: a loss instead of a task needs"):
        EngrammarModule("gru", "mse")


def test_a_module_saved_with_its_hyperparameters_loads_from_its_checkpoint(tmp_path) -> None:
    x, y = regression(samples=8)
    data = EngrammarDataModule.from_tensors(x.float(), y.float(), batch_size=4)
    module = EngrammarModule("gru", data, overrides={"hidden_size": 6}, lr=0.01, tbptt=2, schedule="step")
    trainer = quiet_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = EngrammarModule.load_from_checkpoint(tmp_path / "m.ckpt", weights_only=False)
    assert loaded.config.tbptt == 2 and loaded.config.schedule == "step" and loaded.recipe == module.recipe
    for name, value in parameters(module.model).items():
        assert torch.equal(dict(loaded.model.named_parameters())[name], value)


def test_under_a_gradient_scaler_the_clipping_sees_unscaled_gradients(tmp_path) -> None:
    """float16 AMP with a gradient scaler (on the CPU here, as on a GPU): Lightning unscales before
    on_before_optimizer_step, where the module clips; the norms match a run without the scaler."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = regression(samples=16)
    data = EngrammarDataModule.from_tensors(x.float() * 20, y.float() * 20, batch_size=8)
    logged = []
    for plugins in ([], [MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu", init_scale=1024.0))]):
        norm = NormSeen()
        module = EngrammarModule("gru", data, hooks=[norm], grad_clip=0.5, schedule="constant", tbptt=3)
        trainer = quiet_trainer(tmp_path, max_steps=1, plugins=plugins, num_sanity_val_steps=0, limit_val_batches=0)
        trainer.fit(module, datamodule=data)
        assert norm.norms and max(norm.norms) <= 0.5 + 1e-5
        logged.append(float(trainer.callback_metrics["grad_norm"]))
    assert logged[0] > 1.0 and abs(logged[1] - logged[0]) < 1e-3 * logged[0], logged  # not 1024 times larger
