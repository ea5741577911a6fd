"""neurogenesis in a run: the node grows on its schedule, the model computes what it computed before
the growth, the optimizer trains the grown parameters with the old entries' momentum kept, and the
checkpoint's spec rebuilds the grown model."""

from __future__ import annotations

import copy

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_train import load_checkpoint, rebuild_model
from engrammar_tricks import Neurogenesis
from trainer_runs import run
from tricks_support import ELMAN_WIRING

MOMENTUM = ["train.optimizer=sgd", "train.momentum=0.9", "train.lr=0.05", "train.eval_every=1000"]


def test_a_node_grows_every_n_steps_and_the_checkpoint_rebuilds_it(tmp_path) -> None:
    trick = Neurogenesis(amount=2, every=2)
    result = run(ELMAN_WIRING, "echo_for_tricks", steps=5, hooks=[trick], overrides=MOMENTUM, out=tmp_path)
    assert [e["step"] for e in trick.events] == [2, 4] and {e["node"] for e in trick.events} == {"rnn"}
    model = result.model
    assert model.nodes["rnn"].spec.hidden_size == 8 and model.nodes["rnn"].recurrent.weight.shape == (8, 8)
    optimized = {id(p) for group in result.trainer.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.parameters()}  # the optimizer trains the grown parameters
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint["model_spec"]["nodes"]["rnn"]["hidden_size"] == 8
    rebuilt = rebuild_model(checkpoint["model_spec"])
    rebuilt.load_state_dict(checkpoint["model"])
    x = torch.randn(2, 5, 3)
    assert torch.equal(rebuilt(x)[0], model(x)[0])


def test_a_growth_keeps_the_function_and_the_old_entries_momentum() -> None:
    first = run(ELMAN_WIRING, "echo_for_tricks", steps=3, overrides=MOMENTUM)
    trainer = first.trainer
    model = trainer.model
    before = copy.deepcopy(model)
    old = model.nodes["rnn"].recurrent.weight
    momentum = trainer.optimizer.state[old]["momentum_buffer"].clone()
    trick = Neurogenesis(amount=3, every=1, outgoing_std=0.5)
    trick.generators.start(0)
    trick.grow(trainer, step=3)
    new = model.nodes["rnn"].recurrent.weight
    assert new is not old and new.shape == (7, 7)
    carried = trainer.optimizer.state[new]["momentum_buffer"]
    assert torch.equal(carried[:4, :4], momentum) and torch.all(carried[4:] == 0) and torch.all(carried[:, 4:] == 0)
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(model(x)[0], before(x)[0], rtol=0, atol=1e-6)
    assert trainer.recipe["nodes"]["rnn"]["hidden_size"] == 7


def test_a_node_that_cannot_grow_is_named() -> None:
    with pytest.raises(SpecError, match=r"^neurogenesis\.node: nodes\.out \('linear', Linear\) cannot grow"):
        run(ELMAN_WIRING, "echo_for_tricks", steps=1, hooks=[Neurogenesis(every=1, node="out")], overrides=MOMENTUM)
    with pytest.raises(SpecError, match="^neurogenesis: give either every or patience"):
        Neurogenesis()


class _GrowableRecurrence(torch.nn.Module):
    """A model that is not a wiring and implements ``grow`` itself: h ← tanh(h W + x)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(width, width) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.weight.shape[0])
        for t in range(x.shape[1]):
            h = torch.tanh(h @ self.weight + torch.nn.functional.pad(x[:, t], (0, self.weight.shape[0] - x.shape[-1])))
        return h[:, :2]

    def grow(self, amount, *, generator=None, outgoing_std=0.01):
        from engrammar.nn.growth import Growth, Resized

        old = self.weight.shape[0]
        grown = _GrowableRecurrence(old + amount)
        with torch.no_grad():
            grown.weight.zero_()
            grown.weight[:old, :old] = self.weight
            grown.weight[old:, :old] = torch.randn(amount, old, generator=generator) * outgoing_std
        kept = torch.arange(old)
        return Growth(grown, (Resized("weight", self.weight, grown.weight, (kept, kept)),), None, lambda s: s)


class _LoopTrainer:
    """The attributes a trick reads, from a hand-written loop."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        self.step = 0


def test_a_model_that_grows_itself_grows_in_place_with_its_momentum() -> None:
    torch.manual_seed(0)
    model = _GrowableRecurrence(4)
    trainer = _LoopTrainer(model)
    x = torch.randn(3, 5, 2)
    model(x).square().sum().backward()
    trainer.optimizer.step()
    momentum = trainer.optimizer.state[model.weight]["momentum_buffer"].clone()
    before = model(x).detach()
    trick = Neurogenesis(amount=2, every=1, outgoing_std=0.5)
    trick.generators.start(0)
    trick.grow(trainer, step=1)
    assert trainer.model is model and model.weight.shape == (6, 6)  # the same object, grown
    assert trick.events == [{"step": 1, "node": "", "amount": 2}]
    torch.testing.assert_close(model(x), before, rtol=0, atol=1e-6)  # the new neurons are silent
    (param,) = trainer.optimizer.param_groups[0]["params"]
    assert param is model.weight
    carried = trainer.optimizer.state[model.weight]["momentum_buffer"]
    assert torch.equal(carried[:4, :4], momentum) and torch.all(carried[4:] == 0)
    trick.grow(trainer, step=2, amount=1)  # an amount other than the spec's
    assert model.weight.shape == (7, 7) and trick.events[-1]["amount"] == 1
