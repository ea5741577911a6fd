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
