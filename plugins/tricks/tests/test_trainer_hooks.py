"""The trainer of engrammar-train calls the hooks that three tricks need: ``make_optimizer``
(adamw8bit supplies the run's optimizer), ``on_evaluate_start`` / ``on_evaluate_end`` (ema_weights
puts its average in place for evaluation only) and ``before_checkpoint_restore`` (a run grown by
neurogenesis resumes)."""

from __future__ import annotations

import pytest
import torch
from engrammar.hooks import hookimpl
from engrammar.spec import SpecError
from engrammar_tricks import EMAWeights, Neurogenesis
from engrammar_tricks.adamw8bit.optimizer import AdamW8bit
from trainer_runs import run
from tricks_support import ELMAN_WIRING

MOMENTUM = ["train.optimizer=sgd", "train.momentum=0.9", "train.lr=0.05", "train.eval_every=1000"]


def test_adamw8bit_enabled_by_name_is_the_runs_optimizer() -> None:
    result = run(ELMAN_WIRING, "echo_for_tricks", steps=3, overrides=["train.tricks=[adamw8bit]"])
    assert isinstance(result.trainer.optimizer.optimizer, AdamW8bit)
    plain = run(ELMAN_WIRING, "echo_for_tricks", steps=3)
    assert not isinstance(plain.trainer.optimizer.optimizer, AdamW8bit)


def test_two_tricks_that_each_supply_the_optimizer_are_refused() -> None:
    class Other:
        @hookimpl
        def make_optimizer(self, trainer, parameters):
            return torch.optim.SGD(parameters, lr=0.1)

    with pytest.raises(SpecError, match="train.tricks: 2 tricks each supply the optimizer"):
        run(ELMAN_WIRING, "echo_for_tricks", steps=1, hooks=[Other()], overrides=["train.tricks=[adamw8bit]"])


def test_evaluation_sees_the_average_and_training_keeps_its_own_weights() -> None:
    seen: list[dict[str, torch.Tensor]] = []

    class Spy:
        @hookimpl(trylast=True)  # after ema_weights has put its average in place
        def on_evaluate_start(self, trainer):
            seen.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})

    ema = EMAWeights(decay=0.5)
    result = run(ELMAN_WIRING, "echo_for_tricks", steps=4, hooks=[ema, Spy()], overrides=MOMENTUM)
    trained = {n: p.detach().clone() for n, p in result.model.named_parameters()}
    result.trainer.evaluate(batches=1)
    evaluated = seen[-1]
    assert any(not torch.equal(evaluated[n], trained[n]) for n in trained)  # the average was evaluated
    assert all(torch.equal(evaluated[n], ema.average[n]) for n in trained)
    after = {n: p.detach() for n, p in result.model.named_parameters()}
    assert all(torch.equal(after[n], trained[n]) for n in trained)  # and the trained weights came back


def test_a_grown_run_resumes_with_the_grown_model(tmp_path) -> None:
    first = run(
        ELMAN_WIRING,
        "echo_for_tricks",
        steps=3,
        hooks=[Neurogenesis(amount=2, every=2)],
        overrides=MOMENTUM,
        out=tmp_path,
    )
    assert first.model.nodes["rnn"].spec.hidden_size == 6
    resumed = run(
        ELMAN_WIRING,
        "echo_for_tricks",
        steps=5,
        hooks=[Neurogenesis(amount=2, every=2)],
        overrides=MOMENTUM,
        out=tmp_path,
        resume=True,
    )
    assert resumed.trainer.step == 5
    assert resumed.model.nodes["rnn"].spec.hidden_size == 8  # grown at 2 before the resume, at 4 after
