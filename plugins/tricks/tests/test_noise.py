"""synaptic_noise and grad_noise by hand: with a gradient that is the same at every step (plain
SGD), the noise is all that separates a run with the trick from one without, and its spread is
known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_tricks import GradNoise, SynapticNoise
from engrammar_tricks.grad_noise import noise_std
from trainer_runs import PLAIN_SGD, run, weights

WIDE = {"use": "linear", "out_features": 64}
TASK = {"use": "mean_output_for_tricks", "width": 64}


def _difference(trick, steps: int, seed: int = 0) -> torch.Tensor:
    noisy = weights(run(WIDE, TASK, steps=steps, hooks=[trick], overrides=PLAIN_SGD, seed=seed))
    plain = weights(run(WIDE, TASK, steps=steps, overrides=PLAIN_SGD, seed=seed))
    return torch.cat([(noisy[k] - plain[k]).flatten() for k in sorted(plain)])


def test_synaptic_noise_adds_the_stated_spread_to_every_weight() -> None:
    difference = _difference(SynapticNoise(std=0.01), steps=9)
    assert difference.numel() == 128 and torch.all(difference != 0)  # weights and biases alike
    expected = 0.01 * math.sqrt(9)  # nine independent draws of N(0, 0.01²) add up
    assert 0.8 * expected < float(difference.std()) < 1.2 * expected
    assert abs(float(difference.mean())) < 3 * expected / math.sqrt(128)


def test_synaptic_noise_follows_the_run_seed() -> None:
    first = _difference(SynapticNoise(std=0.01), steps=2, seed=0)
    again = _difference(SynapticNoise(std=0.01), steps=2, seed=0)
    other = _difference(SynapticNoise(std=0.01), steps=2, seed=1)
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_grad_noise_anneals_as_eta_over_one_plus_t_to_the_gamma() -> None:
    assert noise_std(0.3, 0.55, 0) == pytest.approx(math.sqrt(0.3))
    assert noise_std(0.3, 0.55, 9) == pytest.approx(math.sqrt(0.3 / 10**0.55))
    steps, eta, gamma = 8, 0.01, 0.55
    difference = _difference(GradNoise(eta=eta, gamma=gamma), steps=steps)
    # plain SGD: the weights move by -lr times the sum of the noises
    expected = 0.1 * math.sqrt(sum(eta / (1 + t) ** gamma for t in range(steps)))
    assert 0.8 * expected < float(difference.std()) < 1.2 * expected


def test_noise_options_are_checked() -> None:
    with pytest.raises(SpecError, match=r"^synaptic_noise\.std: must be >= 0.0, got -1"):
        SynapticNoise(std=-1.0)
    with pytest.raises(SpecError, match=r"^grad_noise\.eta: must be > 0.0"):
        GradNoise(eta=0.0)
    assert SynapticNoise().spec.std == 1e-6  # RealNet's default
