"""RealNetTrainer: each documented step checked against the same step done by hand, and each
bio-inspired trick shown to be engrammar-tricks' own."""

from __future__ import annotations

import copy

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_realnet import trainer as trainer_module
from engrammar_tricks import GhostGradients, SynapticNoise
from realnet import RealNet, RealNetTrainer
from realnet.utils.neurogenesis import expand
from torch import nn

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])


def xor_model(seed: int = 0) -> RealNet:
    torch.manual_seed(seed)
    return RealNet(3, [0, 1], [2])


def hand_gradients(model: RealNet, x: torch.Tensor, y: torch.Tensor, steps: int) -> list[torch.Tensor]:
    model.zero_grad()
    all_states, _ = model(x, steps=steps)
    nn.functional.mse_loss(all_states[:, -1, model.output_ids], y).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_accumulation_steps_once_with_the_mean_gradient() -> None:
    model = xor_model()
    reference = copy.deepcopy(model)
    sgd = torch.optim.SGD(model.parameters(), lr=0.5)
    trainer = RealNetTrainer(model, optimizer=sgd, synaptic_noise=0.0, grad_clip=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train_batch(X[:2], Y[:2], thinking_steps=4, gradient_accumulation_steps=2)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())) and trainer.step == 0
    trainer.train_batch(X[2:], Y[2:], thinking_steps=4, gradient_accumulation_steps=2)
    assert trainer.step == 1
    gradients = hand_gradients(reference, X, Y, 4)  # equal halves: the mean of the halves' means
    for old, new, grad in zip(before, model.parameters(), gradients):
        torch.testing.assert_close(new.detach(), old - 0.5 * grad)


def test_gradient_persistence_is_the_ghost_gradients_trick() -> None:
    model = xor_model(1)
    reference = copy.deepcopy(model)
    trainer = RealNetTrainer(
        model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), gradient_persistence=0.5, synaptic_noise=0.0,
        grad_clip=0.0,
    )  # fmt: skip
    assert [type(p) for p in trainer.hooks.get_plugins()] == [GhostGradients]
    trainer.train_batch(X, Y, thinking_steps=3)
    trainer.train_batch(X, Y, thinking_steps=3)
    g1 = hand_gradients(reference, X, Y, 3)
    with torch.no_grad():
        for p, g in zip(reference.parameters(), g1):
            p -= 0.1 * g
    g2 = hand_gradients(reference, X, Y, 3)
    with torch.no_grad():
        for p, a, b in zip(reference.parameters(), g1, g2):
            p -= 0.1 * (b + 0.5 * a)  # this step's gradient plus half the last one's
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_synaptic_noise_is_the_shared_trick_with_its_std() -> None:
    torch.manual_seed(2)
    model = RealNet(64, range(2), range(2))
    trainer = RealNetTrainer(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), synaptic_noise=0.1)
    assert [type(p) for p in trainer.hooks.get_plugins()] == [SynapticNoise]
    before = model.weight.detach().clone()
    trainer.train_batch(torch.rand(4, 2), torch.rand(4, 2), thinking_steps=2)
    change = model.weight.detach() - before
    assert 0.09 < float(change.std()) < 0.11 and abs(float(change.mean())) < 0.01
    assert [type(p) for p in RealNetTrainer(xor_model(), synaptic_noise=0.0).hooks.get_plugins()] == []


def test_regenerate_synapses_reinitialises_the_weak_weights() -> None:
    model = xor_model(3)
    trainer = RealNetTrainer(model, lr=1e-2)
    trainer.train_batch(X, Y, thinking_steps=3)
    weight = model.weight.detach().clone()
    weak = weight.abs() < 0.5
    kept_moments = trainer.optimizer.state[model.weight]["exp_avg"][~weak].clone()
    revived, total = trainer.regenerate_synapses(threshold=0.5)
    assert (revived, total) == (int(weak.sum()), 9) and revived > 0
    assert torch.equal(model.weight.detach()[~weak], weight[~weak])
    assert not torch.equal(model.weight.detach()[weak], weight[weak])
    moments = trainer.optimizer.state[model.weight]["exp_avg"]
    assert torch.all(moments[weak] == 0) and torch.equal(moments[~weak], kept_moments)
    assert bool(torch.any(kept_moments != 0))
    assert trainer.regenerate_synapses(percentage=0.34) == (3, 9)
    with pytest.raises(SpecError, match="^regenerate_synapses: give threshold or percentage, not both"):
        trainer.regenerate_synapses(threshold=0.1, percentage=0.1)


def test_expand_grows_the_model_in_place_and_the_optimizer_follows() -> None:
    model = xor_model(4)
    trainer = RealNetTrainer(model, lr=1e-2, synaptic_noise=0.0)
    trainer.fit(X, Y, epochs=3, thinking_steps=4)
    before = trainer.predict(X, thinking_steps=4)
    moment = trainer.optimizer.state[model.weight]["exp_avg"].clone()
    trainer.expand(amount=2, verbose=False)
    assert model.num_neurons == 5 and model.weight.shape == (5, 5) and trainer.model is model
    torch.testing.assert_close(trainer.predict(X, thinking_steps=4), before)  # new neurons start silent
    assert any(p is model.weight for p in trainer.optimizer.param_groups[0]["params"])
    torch.testing.assert_close(trainer.optimizer.state[model.weight]["exp_avg"][:3, :3], moment)
    trainer.fit(X, Y, epochs=2, thinking_steps=4)  # trains on
    assert torch.any(model.weight[:, 3:] != 0)
    assert trainer.neurogenesis.events[-1]["amount"] == 2
    expand(model, trainer.optimizer, amount=1)
    assert model.num_neurons == 6


def test_fit_predict_mask_and_output_transform() -> None:
    model = xor_model(5)
    trainer = RealNetTrainer(model, lr=3e-2, synaptic_noise=0.0)
    history = trainer.fit(X.numpy(), Y.numpy(), epochs=40, batch_size=2, thinking_steps=4)
    assert len(history) == 40 and history[-1] < history[0]
    assert trainer.predict(X, thinking_steps=4).shape == (4, 1)
    assert trainer.predict(X, thinking_steps=4, full_sequence=True).shape == (4, 4, 1)
    # A mask that keeps only the last step gives the last step's loss.
    mask = torch.zeros(4, 4, 1)
    mask[:, -1] = 1
    probe = RealNetTrainer(copy.deepcopy(model), optimizer=torch.optim.SGD(model.parameters(), lr=0.0))
    last = probe.train_batch(X, Y, thinking_steps=4)
    masked = probe.train_batch(X, Y[:, None].expand(4, 4, 1), thinking_steps=4, full_sequence=True, mask=mask)
    assert masked == pytest.approx(last, rel=1e-5)
    doubled = probe.train_batch(X, 2 * Y, thinking_steps=4, output_transform=lambda y: 2 * y)
    assert doubled == pytest.approx(4 * last, rel=1e-5)
    classes = RealNet(6, range(2), range(6), vocab_size=[-1, 2])
    ce = RealNetTrainer(classes, loss_fn=nn.CrossEntropyLoss(), lr=1e-2)
    assert ce.train_batch(X, Y[:, 0].long(), thinking_steps=2) > 0


def test_the_default_optimizer_follows_device_and_the_bnb_switches(monkeypatch, capsys) -> None:
    model = xor_model()
    config = RealNetTrainer(model).config
    monkeypatch.setenv("VERBOSE_BNB", "1")
    chosen = trainer_module.default_optimizer(model, config, torch.device("cpu"))
    assert type(chosen) is torch.optim.AdamW and "torch AdamW (the device is cpu" in capsys.readouterr().err
    made = []
    monkeypatch.setattr(trainer_module, "bitsandbytes_available", lambda: True)
    monkeypatch.setattr(
        trainer_module.AdamW8bitTrick, "make", lambda self, params, **kw: made.append(self.spec.backend) or "8-bit"
    )
    assert trainer_module.default_optimizer(model, config, torch.device("cuda")) == "8-bit" and made == ["bitsandbytes"]
    assert "bitsandbytes AdamW8bit" in capsys.readouterr().err
    monkeypatch.setenv("NO_BNB", "1")
    assert type(trainer_module.default_optimizer(model, config, torch.device("cuda"))) is torch.optim.AdamW
    assert "NO_BNB is set" in capsys.readouterr().err
    monkeypatch.delenv("NO_BNB")
    monkeypatch.setattr(trainer_module, "bitsandbytes_available", lambda: False)
    assert type(trainer_module.default_optimizer(model, config, torch.device("cuda"))) is torch.optim.AdamW


def test_trainer_settings_and_data_are_checked() -> None:
    trainer = RealNetTrainer(xor_model(), lr=5e-3)
    assert trainer.initial_lr == 5e-3 and trainer.optimizer.param_groups[0]["lr"] == 5e-3
    with pytest.raises(SpecError, match=r"^gradient_persistence: must be in \[0, 1\)"):
        RealNetTrainer(xor_model(), gradient_persistence=1.0)
    with pytest.raises(SpecError, match="^target_values: has 3 samples, input_features 4"):
        trainer.fit(X, Y[:3], epochs=1)
