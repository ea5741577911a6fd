"""``antipodal``: the regime-switching data, its targets and its switch-aware metrics."""

from __future__ import annotations

import math

import pytest
import torch
from engrammar.spec import SpecError
from engrammar_tasks.antipodal import Antipodal, steps_since_switch, switch_mask


def logits_for(classes: torch.Tensor) -> torch.Tensor:
    """Two logits per step that pick ``classes`` (B, T)."""
    return torch.nn.functional.one_hot(classes, 2).float() * 4 - 2


def test_shapes_and_widths():
    task = Antipodal(T=30, input_dim=3)
    batch = task.sample(5, torch.Generator().manual_seed(0))
    assert (task.in_features, task.out_features) == (3, 2)
    assert batch.inputs.shape == (5, 30, 3) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (5, 30) and batch.targets.dtype == torch.int64
    assert bool(batch.mask.all())


def test_same_generator_state_same_batch():
    task = Antipodal(T=20)
    a = task.sample(4, torch.Generator().manual_seed(3))
    b = task.sample(4, torch.Generator().manual_seed(3))
    c = task.sample(4, torch.Generator().manual_seed(4))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


def test_switch_rate_follows_p_switch():
    task = Antipodal(T=400, p_switch=0.1)
    batch = task.sample(64, torch.Generator().manual_seed(0))
    rate = switch_mask(batch.targets)[:, 1:].float().mean().item()
    assert abs(rate - 0.1) < 0.01
    never = Antipodal(T=50, p_switch=0.0).sample(8, torch.Generator().manual_seed(0))
    assert not switch_mask(never.targets).any()
    assert {0, 1} <= set(never.targets[:, 0].tolist())  # the starting regime is random


def test_inputs_are_the_pattern_times_the_regime():
    task = Antipodal(T=40, noise=0.0, signal=2.0, input_dim=4)
    batch = task.sample(3, torch.Generator().manual_seed(1))
    sign = batch.targets.float() * 2 - 1
    assert torch.allclose(batch.inputs, sign[..., None] * torch.full((4,), 1.0))
    # with noise, the projection on the pattern still has the regime's sign on average
    noisy = Antipodal(T=200, noise=1.0).sample(16, torch.Generator().manual_seed(2))
    projection = noisy.inputs.sum(-1)
    agrees = ((projection > 0).long() == noisy.targets).float().mean().item()
    assert 0.75 < agrees < 0.92  # Φ(signal / noise) = Φ(1) ≈ 0.84


def test_steps_since_switch_counts_from_each_switch():
    targets = torch.tensor([[0, 0, 1, 1, 1, 0, 0]])
    assert switch_mask(targets).tolist() == [[False, False, True, False, False, True, False]]
    assert steps_since_switch(targets).tolist() == [[7, 8, 0, 1, 2, 0, 1]]


def test_metrics_split_after_switch_and_stable_steps():
    task = Antipodal(T=8, window=2)
    targets = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0]])
    batch = task.sample(1, torch.Generator().manual_seed(0))
    batch = type(batch)(batch.inputs, targets, torch.ones(1, 8, dtype=torch.bool))
    predicted = targets.clone()
    predicted[0, 3] = 1  # the step of the switch is wrong, one of two 'after switch' steps
    metrics = task.metrics(logits_for(predicted), batch)
    assert metrics["accuracy"] == pytest.approx(7 / 8)
    assert metrics["accuracy_after_switch"] == pytest.approx(1 / 2)
    assert metrics["accuracy_stable"] == pytest.approx(1.0)
    perfect = task.metrics(logits_for(targets), batch)
    assert perfect["accuracy"] == 1.0 and perfect["loss"] < 0.05
    inverted = task.metrics(logits_for(1 - targets), batch)
    assert inverted["accuracy"] == 0.0 and inverted["loss"] > 3.0
    no_switch = task.metrics(
        logits_for(torch.ones(1, 8, dtype=torch.long)),
        type(batch)(batch.inputs, torch.ones(1, 8, dtype=torch.long), batch.mask),
    )
    assert math.isnan(no_switch["accuracy_after_switch"])


def test_loss_is_differentiable_cross_entropy():
    task = Antipodal(T=10)
    batch = task.sample(2, torch.Generator().manual_seed(0))
    outputs = torch.zeros(2, 10, 2, requires_grad=True)
    loss = task.loss(outputs, batch)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(2))
    assert outputs.grad is not None and outputs.grad.abs().sum() > 0


def test_bad_spec_names_the_field():
    with pytest.raises(SpecError, match="p_switch"):
        Antipodal(p_switch=1.5)
