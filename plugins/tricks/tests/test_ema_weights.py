"""ema_weights by hand: with plain SGD on a constant gradient the weights fall by lr / 2 per step
(two outputs), and the average follows the recurrence written out here."""

from __future__ import annotations

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_train import load_checkpoint
from engrammar_tricks import EMAWeights, ema_state_dict
from trainer_runs import PLAIN_SGD, run, weights

MODEL, TASK = {"use": "linear", "out_features": 2}, {"use": "mean_output_for_tricks", "width": 2}


@pytest.mark.parametrize("warmup", [False, True])
def test_the_average_follows_its_recurrence(warmup: bool) -> None:
    start = weights(run(MODEL, TASK, steps=5, until=0, overrides=PLAIN_SGD))
    trick = EMAWeights(decay=0.8, warmup=warmup)
    run(MODEL, TASK, steps=5, hooks=[trick], overrides=PLAIN_SGD)
    for name in ("proj.weight", "proj.bias"):
        average = start[name].clone()
        for t in range(5):
            decay = min(0.8, (1 + t) / (10 + t)) if warmup else 0.8
            trained = start[name] - 0.1 * 0.5 * (t + 1)
            average = decay * average + (1 - decay) * trained
        torch.testing.assert_close(trick.average[name], average)
    assert trick.updates == 5


def test_the_average_is_saved_and_read_back_from_the_checkpoint(tmp_path) -> None:
    trick = EMAWeights(decay=0.5, warmup=False)
    result = run(MODEL, TASK, steps=3, hooks=[trick], overrides=PLAIN_SGD, out=tmp_path)
    checkpoint = load_checkpoint(tmp_path)
    averaged = ema_state_dict(checkpoint)
    for name, value in trick.average.items():
        assert torch.equal(averaged[name], value)
        assert not torch.equal(averaged[name], result.model.state_dict()[name])
    with pytest.raises(KeyError, match="no ema_weights state"):
        ema_state_dict({"model": checkpoint["model"]})


def test_decay_must_be_below_one() -> None:
    with pytest.raises(SpecError, match=r"^ema_weights\.decay: must be < 1.0"):
        EMAWeights(decay=1.0)
