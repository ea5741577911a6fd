"""ghost_gradients by hand: with a gradient of 1 at every step and plain SGD, the steps taken are
1, 1 + ρ, 1 + ρ + ρ², ... times the rate."""

from __future__ import annotations

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_tricks import GhostGradients
from trainer_runs import PLAIN_SGD, run, weights

LINEAR = {"use": "linear", "out_features": 1}


def test_the_gradient_echoes_with_persistence_by_hand() -> None:
    start = weights(run(LINEAR, "mean_output_for_tricks", steps=4, until=0, overrides=PLAIN_SGD))
    trick = GhostGradients(persistence=0.5)
    end = weights(run(LINEAR, "mean_output_for_tricks", steps=4, hooks=[trick], overrides=PLAIN_SGD))
    taken = 1 + 1.5 + 1.75 + 1.875  # g̃_t = 1 + 0.5 g̃_{t-1}
    for name in ("proj.weight", "proj.bias"):
        torch.testing.assert_close(end[name], start[name] - 0.1 * taken)
    assert torch.allclose(trick.echo["proj.weight"], torch.tensor([[0.5 * 1.875]]))
    plain = weights(run(LINEAR, "mean_output_for_tricks", steps=4, overrides=PLAIN_SGD))
    torch.testing.assert_close(plain["proj.weight"], start["proj.weight"] - 0.4)


def test_persistence_zero_is_plain_training() -> None:
    a = weights(
        run(LINEAR, "mean_output_for_tricks", steps=3, hooks=[GhostGradients(persistence=0.0)], overrides=PLAIN_SGD)
    )
    b = weights(run(LINEAR, "mean_output_for_tricks", steps=3, overrides=PLAIN_SGD))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("value", [1.0, -0.1])
def test_persistence_must_be_in_zero_one(value: float) -> None:
    with pytest.raises(SpecError, match=r"^ghost_gradients\.persistence: must be"):
        GhostGradients(persistence=value)
