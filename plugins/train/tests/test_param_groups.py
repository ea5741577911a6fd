"""Per-node parameter groups (``train.param_groups``): scaled rates that follow the schedule, slow
groups that move every k-th step by the mean of their held-back gradients, exact resume in the middle
of an interval, the longest key winning, and a key that matches nothing named in the error."""

from __future__ import annotations

import engrammar
import engrammar_train
import pytest
import test_training_support  # noqa: F401  (registers the echo_for_tests task)
import torch
from engrammar.hooks import hookimpl
from engrammar_train import load_checkpoint
from engrammar_train.param_groups import CHECKPOINT_KEY

MODEL = {
    "name": "fast_and_slow",
    "nodes": {
        "fast": {"use": "linear", "out_features": 8, "in": "x"},
        "slow": {"use": "linear", "out_features": 3, "in": "fast"},
    },
    "out": "slow",
}
SLOW = {"nodes.slow": {"lr_scale": 0.1, "update_every": 4}}


class Watch:
    """Records, per step, the slow node's gradient before the optimizer step and its weight after."""

    def __init__(self) -> None:
        self.gradients: list[torch.Tensor] = []
        self.weights: list[torch.Tensor] = []
        self.rates: list[tuple[float, ...]] = []

    @hookimpl
    def after_backward(self, trainer) -> None:
        self.gradients.append(trainer.model.nodes["slow"].proj.weight.grad.clone())

    @hookimpl
    def after_optimizer_step(self, trainer, optimizer) -> None:
        self.weights.append(trainer.model.nodes["slow"].proj.weight.detach().clone())
        self.rates.append(tuple(group["lr"] for group in optimizer.param_groups))


def run(groups, *, steps=8, settings=(), hooks=(), out=None, until=None, resume=False):
    return engrammar_train.train(
        MODEL,
        "echo_for_tests",
        steps=steps,
        batch_size=4,
        out=out,
        overrides={"train.param_groups": groups, "train.eval_every": 4, "train.log_every": 4, **dict(settings)},
        hooks=list(hooks),
        progress=False,
        until=until,
        resume=resume,
    )


def test_group_rates_are_scaled_and_follow_the_schedule():
    watch = Watch()
    run({"nodes.slow": {"lr_scale": 0.1}}, settings={"train.schedule": "onecycle", "train.lr": 0.01}, hooks=[watch])
    rates = watch.rates
    assert len({round(r[0], 12) for r in rates}) > 3  # the schedule moves the rate
    for default, slow in rates:
        assert slow == pytest.approx(0.1 * default)


def test_a_slow_group_moves_every_kth_step_by_the_mean_of_its_gradients():
    watch = Watch()
    settings = {"train.optimizer": "sgd", "train.momentum": 0.0, "train.weight_decay": 0.0, "train.grad_clip": 0.0}
    result = run(SLOW, settings={**settings, "train.lr": 0.05}, hooks=[watch])
    start = watch.weights[0] + 0.0  # unchanged by step 1
    assert all(torch.equal(w, start) for w in watch.weights[:3])
    expected = start - 0.05 * 0.1 * torch.stack(watch.gradients[:4]).mean(0)
    assert torch.allclose(watch.weights[3], expected, atol=1e-7)
    assert torch.equal(watch.weights[4], watch.weights[3]) and not torch.equal(watch.weights[7], watch.weights[3])
    fast = result.trainer.optimizer.param_groups[0]
    assert fast["name"] == "" and fast["update_every"] == 1


def test_resume_inside_an_interval_is_exact(tmp_path):
    groups = {"nodes.slow": {"lr_scale": 0.5, "update_every": 3}}
    settings = {"train.deterministic": True}
    straight = run(groups, out=tmp_path / "straight", settings=settings)
    run(groups, out=tmp_path / "split", until=4, settings=settings)
    held = load_checkpoint(tmp_path / "split")[CHECKPOINT_KEY]
    assert held and all(t.abs().sum() > 0 for t in held.values())  # step 4 of an interval of 3: held back
    resumed = run(groups, out=tmp_path / "split", resume=True, settings=settings)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_the_longest_matching_key_wins():
    result = run({"nodes": {"lr_scale": 0.5}, "nodes.slow": {"lr_scale": 0.1}}, steps=1)
    groups = {group["name"]: group for group in result.trainer.optimizer.param_groups}
    slow = {id(p) for p in result.model.nodes["slow"].parameters()}
    assert {id(p) for p in groups["nodes.slow"]["params"]} == slow
    assert not slow & {id(p) for p in groups["nodes"]["params"]}


def test_a_key_that_matches_nothing_is_named():
    with pytest.raises(engrammar.SpecError, match=r"train\.param_groups\.nodes\.persist: matches no trainable"):
        run({"nodes.persist": {"lr_scale": 0.1}}, steps=1)
    with pytest.raises(engrammar.SpecError, match="update_every"):
        run({"nodes.slow": {"update_every": 0}}, steps=1)
