"""Learning-rate schedules against their formulas written out step by step, and the run's length
from steps or epochs."""

from __future__ import annotations

import math

import engrammar
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar.spec import structure
from engrammar_train import TrainConfig
from engrammar_train.optim import make_scheduler


def rates(total: int, **settings) -> list[float]:
    config = structure({"lr": 0.1, **settings}, TrainConfig)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = make_scheduler(optimizer, config, total)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return seen


def test_constant() -> None:
    assert rates(5) == [0.1] * 5


def test_linear_warmup_then_constant() -> None:
    assert rates(8, schedule="warmup", warmup_fraction=0.5) == pytest.approx(
        [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1, 0.1]
    )
    assert rates(4, schedule="warmup", warmup_steps=1) == pytest.approx([0.1] * 4)


def test_cosine_without_and_with_warmup() -> None:
    expected = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(10)]
    assert rates(10, schedule="cosine", min_lr=0.01) == pytest.approx(expected)
    warm = [0.1 * (t + 1) / 2 for t in range(2)] + [0.1 * 0.5 * (1 + math.cos(math.pi * t / 8)) for t in range(8)]
    assert rates(10, schedule="cosine", warmup_steps=2) == pytest.approx(warm)


def test_onecycle_peaks_at_the_end_of_its_warmup() -> None:
    seen = rates(20, schedule="onecycle", warmup_fraction=0.25)
    assert max(seen) == pytest.approx(0.1) and seen.index(max(seen)) == 4
    assert seen[0] == pytest.approx(0.1 / 25) and seen[-1] < 1e-4


def test_step_decay() -> None:
    assert rates(7, schedule="step", step_size=3, gamma=0.5) == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025])


def test_a_warmup_longer_than_the_run_is_a_named_error() -> None:
    with pytest.raises(
        engrammar.SpecError, match="train.warmup_steps: a warm-up of 10 steps leaves nothing of a 10-step run"
    ):
        rates(10, schedule="cosine", warmup_steps=10)
    with pytest.raises(engrammar.SpecError, match="train.warmup_fraction: a onecycle warm-up of 1 of 4 steps"):
        rates(4, schedule="onecycle")


def test_epochs_of_a_task_are_eval_every_steps(tmp_path) -> None:
    from engrammar_train import train

    result = train(
        "ema", "echo_for_tests", config={"epochs": 3, "eval_every": 2, "batch_size": 2}, out=tmp_path, progress=False
    )
    assert result.step == 6 and result.trainer.epoch == 3
