"""``train.param_groups``: per-node learning-rate scales and update intervals, with the configured
optimizer and a trick's, through checkpoints and from the command line."""

from __future__ import annotations

import engrammar
import engrammar_train
import pytest
import test_training_support  # noqa: F401 - registers echo_for_tests
import torch
from engrammar.spec import SpecError
from engrammar_train import load_checkpoint
from engrammar_train.param_groups import ParamGroupSpec, SlowUpdates

WIRING = {
    "name": "two_speeds_for_tests",
    "in_features": 3,
    "nodes": {
        "fast": {"use": "lstm", "hidden_size": 5, "in": "x"},
        "slow": {"use": "lstm", "hidden_size": 4, "in": "fast"},
    },
    "out": "slow",
}
SETTINGS = ["task.length=6", "train.eval_every=4", "train.log_every=1", "train.lr=0.01", "train.deterministic=true"]


def _train(out=None, steps=8, groups=None, until=None, resume=False, tricks=(), settings=(), hooks=()):
    config = {"param_groups": groups if groups is not None else {"nodes.slow": {"lr_scale": 0.1, "update_every": 4}}}
    return engrammar_train.train(
        WIRING,
        "echo_for_tests",
        steps=steps,
        batch_size=4,
        out=out,
        overrides=[*SETTINGS, *settings],
        config=config,
        tricks=tricks,
        hooks=hooks,
        resume=resume,
        until=until,
        progress=False,
    )


class Snapshots:
    """Copies of every parameter after each optimizer step."""

    def __init__(self) -> None:
        self.after: list[dict[str, torch.Tensor]] = []

    @engrammar.hookimpl
    def after_optimizer_step(self, trainer, optimizer) -> None:
        self.after.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})


def _changed_steps(snapshots: Snapshots, initial: dict[str, torch.Tensor], prefix: str) -> list[int]:
    steps = []
    before = initial
    for step, params in enumerate(snapshots.after, start=1):
        if any(not torch.equal(params[k], before[k]) for k in params if k.startswith(prefix)):
            steps.append(step)
        before = params
    return steps


def _initial(groups=None) -> dict[str, torch.Tensor]:
    # The parameters as built: the same seed builds the same model.
    result = _train(steps=1, groups=groups, hooks=[], until=0)
    return {k: v.detach().clone() for k, v in result.model.named_parameters()}


@pytest.mark.parametrize("tricks", [(), ("adamw8bit:min_8bit_size=0",)], ids=["adamw", "adamw8bit"])
def test_a_slow_group_changes_only_every_fourth_step(tricks) -> None:
    initial = _initial()
    snapshots = Snapshots()
    result = _train(steps=9, tricks=tricks, hooks=[snapshots])
    assert _changed_steps(snapshots, initial, "nodes.slow.") == [4, 8]
    assert _changed_steps(snapshots, initial, "nodes.fast.") == list(range(1, 10))
    assert _changed_steps(snapshots, initial, "nodes.readout.") == list(range(1, 10))
    groups = {group.get("name"): group for group in result.trainer.optimizer.param_groups}
    assert groups["nodes.slow"]["lr_scale"] == 0.1 and groups["nodes.slow"]["update_every"] == 4
    assert groups["nodes.slow"]["lr"] == pytest.approx(0.001)
    assert groups[None]["lr"] == pytest.approx(0.01)
    slow = {id(p) for p in groups["nodes.slow"]["params"]}
    named = dict(result.model.named_parameters())
    assert slow == {id(v) for k, v in named.items() if k.startswith("nodes.slow.")}
    assert not slow & {id(p) for p in groups[None]["params"]}


def test_the_slow_step_takes_the_mean_gradient_of_its_interval() -> None:
    """With SGD without momentum or decay the slow step is -lr * scale * mean of the 4 clipped
    gradients, each of which the fast parameters' steps reveal nothing about; so check the sum
    directly through SlowUpdates on a parameter."""
    layer = torch.nn.Linear(2, 1)
    groups = {"weight": ParamGroupSpec(update_every=3)}
    slow = SlowUpdates(groups, {"weight": ["weight"]})
    grads = [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]]), torch.tensor([[2.0, 5.0]])]
    for step, grad in enumerate(grads, start=1):
        layer.weight.grad = grad.clone()
        layer.bias.grad = torch.ones(1)
        slow.prepare(layer, step)
        if step < 3:
            assert layer.weight.grad is None
        assert torch.equal(layer.bias.grad, torch.ones(1))  # not in a slow group: untouched
    assert torch.allclose(layer.weight.grad, torch.tensor([[2.0, 2.0]]))
    assert slow.state() == {}


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "warmup"])
def test_lr_scale_follows_the_schedule(schedule) -> None:
    settings = [f"train.schedule={schedule}", "train.min_lr=0.002"]
    groups = {"nodes.slow": {"lr_scale": 0.25}}
    for until in (3, 8):
        result = _train(steps=8, groups=groups, settings=settings, until=until)
        fast, slow = result.trainer.optimizer.param_groups[0], result.trainer.optimizer.param_groups[1]
        assert slow["name"] == "nodes.slow"
        assert slow["lr"] == pytest.approx(0.25 * fast["lr"])
        assert 0 < fast["lr"] and (fast["lr"] != 0.01 or schedule == "warmup")
    if schedule == "cosine":
        assert fast["lr"] == pytest.approx(0.002)  # min_lr, scaled for the slow group


def test_resume_inside_an_interval_is_exact(tmp_path) -> None:
    straight = _train(tmp_path / "straight", steps=8)
    _train(tmp_path / "split", steps=8, until=6)
    saved = load_checkpoint(tmp_path / "split")
    assert set(saved["slow_gradients"]) == {k for k in straight.model.state_dict() if k.startswith("nodes.slow.")}
    resumed = _train(tmp_path / "split", steps=8, resume=True)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_without_the_sums_differs(tmp_path) -> None:
    """The check above can fail: dropping the sums of steps 5-6 changes the step-8 update."""
    straight = _train(tmp_path / "straight", steps=8)
    _train(tmp_path / "split", steps=8, until=6)

    class Forget:
        @engrammar.hookimpl
        def on_checkpoint_load(self, trainer, checkpoint) -> None:
            trainer.slow_updates.sums.clear()

    resumed = _train(tmp_path / "split", steps=8, resume=True, hooks=[Forget()])
    differs = [k for k, v in straight.model.state_dict().items() if not torch.equal(v, resumed.model.state_dict()[k])]
    assert differs and all(k.startswith("nodes.slow.") for k in differs)


def test_a_path_matching_no_node_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(SpecError) as caught:
        _train(steps=1, groups={"nodes.slwo": {"lr_scale": 0.1}})
    message = str(caught.value)
    assert "train.param_groups.nodes.slwo" in message and "did you mean 'nodes.slow'?" in message
    assert "\n" not in message
    with pytest.raises(SpecError, match="nodes: nodes.fast, nodes.readout, nodes.slow"):
        _train(steps=1, groups={"zzz": {"lr_scale": 0.1}})
    with pytest.raises(SpecError, match=r"train\.param_groups\.'nodes\.slow'\.update_every"):
        _train(steps=1, groups={"nodes.slow": {"update_every": 0}})


def test_the_command_line_sets_groups_by_dotted_path(tmp_path, capsys) -> None:
    from engrammar.cli import main

    wiring = tmp_path / "two_speeds.yaml"
    import yaml

    wiring.write_text(yaml.safe_dump(WIRING))
    out = tmp_path / "run"
    code = main(
        [
            "train",
            str(wiring),
            "--task",
            "echo_for_tests",
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "train.param_groups.nodes.slow.lr_scale=0.5",
            "--set",
            "train.param_groups.nodes.slow.update_every=2",
            "--set",
            "train.lr=0.02",
        ]
    )
    assert code == 0
    saved = load_checkpoint(out)
    assert saved["config"]["param_groups"] == {"nodes.slow": {"lr_scale": 0.5, "update_every": 2}}
    groups = saved["optimizer"]["param_groups"]
    assert [g.get("name") for g in groups] == [None, "nodes.slow"]
    assert groups[1]["lr"] == pytest.approx(0.01)
