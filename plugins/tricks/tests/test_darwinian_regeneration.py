"""darwinian_regeneration by hand: which entries are revived, from which initialisation, what
happens to the optimizer's moments, and the (revived, total) report."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar_tricks import DarwinianRegeneration
from engrammar_tricks.darwinian_regeneration import dead_entries
from torch import nn
from trainer_runs import PLAIN_SGD, run

WEIGHT = torch.tensor([[0.001, 0.5, -0.3], [-0.002, -0.7, 0.2]])


def _model() -> nn.Module:
    model = engrammar.build("constant_init_for_tricks", in_features=3, out_features=2)
    with torch.no_grad():
        model.proj.weight.copy_(WEIGHT)
        model.proj.bias.copy_(torch.tensor([0.0001, -0.0001]))  # tiny, but a bias: left alone
    return model


def _started(trick: DarwinianRegeneration) -> DarwinianRegeneration:
    trick.generators.start(0)
    return trick


def test_threshold_mode_revives_the_small_entries_from_the_parameters_own_scheme() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.proj.weight.grad = torch.ones_like(WEIGHT)
    model.proj.bias.grad = torch.ones(2)
    optimizer.step()  # gives every entry a momentum buffer
    moved = model.proj.weight.detach().clone()
    trick = _started(DarwinianRegeneration(threshold=0.11, every=1))
    revived, total = trick.regenerate(model, optimizer)
    # after the step (w - 0.1): |w| < 0.11 for 0.001-0.1, -0.002-0.1 and 0.2-0.1 -> 3 of 6
    dead = moved.abs() < 0.11
    assert (revived, total) == (3, 6) and int(dead.sum()) == 3
    weight = model.proj.weight.detach()
    assert torch.all(weight[dead] == 0.125)  # this component's constructor sets 0.125
    assert torch.equal(weight[~dead], moved[~dead])
    momentum = optimizer.state[model.proj.weight]["momentum_buffer"]
    assert torch.all(momentum[dead] == 0) and torch.all(momentum[~dead] == 1)
    assert torch.all(optimizer.state[model.proj.bias]["momentum_buffer"] == 1)


def test_percentage_mode_revives_the_smallest_share_of_each_weight() -> None:
    mask = dead_entries(WEIGHT, None, 0.5)
    assert mask.tolist() == [[True, False, False], [True, False, True]]  # 3 smallest |w| of 6
    assert not dead_entries(WEIGHT, None, 0.1).any()  # ⌊0.6⌋ = 0 entries


def test_a_plain_module_is_revived_by_its_modules_reset_parameters() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(WEIGHT)
    revived, total = _started(DarwinianRegeneration(threshold=0.01)).regenerate(model)
    assert (revived, total) == (2, 6)
    fresh = model[0].weight.detach()[WEIGHT.abs() < 0.01]
    assert torch.all(fresh.abs() <= 1 / 3**0.5) and not torch.equal(fresh, WEIGHT[WEIGHT.abs() < 0.01])

    class Scale(nn.Module):  # a parameter with no way to re-initialise it
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(2, 2))

    with pytest.raises(SpecError, match=r"cannot re-initialise scale: its module Scale has no reset_parameters"):
        _started(DarwinianRegeneration(threshold=0.01)).regenerate(Scale())


def test_a_run_regenerates_every_n_steps_and_keeps_the_reports() -> None:
    trick = DarwinianRegeneration(percentage=0.5, every=2)
    run(
        {"use": "linear", "out_features": 4},
        {"use": "mean_output_for_tricks", "width": 4},
        steps=5,
        hooks=[trick],
        overrides=PLAIN_SGD,
    )
    assert trick.history == [[2, 2, 4], [4, 2, 4]]


def test_exactly_one_mode_is_given() -> None:
    for fields in ({}, {"threshold": 0.1, "percentage": 0.1}):
        with pytest.raises(SpecError, match="^darwinian_regeneration: give either threshold or percentage"):
            DarwinianRegeneration(**fields)
    with pytest.raises(SpecError, match=r"^darwinian_regeneration\.percentage: must be in \(0.0, 1.0\)"):
        DarwinianRegeneration(percentage=1.0)
