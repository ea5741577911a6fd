"""Tricks enabled by name: options checked against their spec, hook names checked when loaded,
state kept in checkpoints. The trick here is a small one of the tests' own."""

from __future__ import annotations

import engrammar
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar.cli import main
from engrammar.hooks import hookimpl
from engrammar.spec import field, gt, spec
from engrammar_train import fit, load_checkpoint, train


@spec
class GradientScaleSpec:
    scale: float = field(default=0.5, validator=gt(0.0), doc="factor applied to every gradient")


class GradientScale:
    """Multiplies every gradient by ``scale`` and counts the steps it has seen (its state)."""

    spec_cls = GradientScaleSpec

    def __init__(self, spec: GradientScaleSpec | None = None) -> None:
        self.spec = spec or GradientScaleSpec()
        self.steps = 0

    @hookimpl
    def after_backward(self, trainer) -> None:
        for param in trainer.model.parameters():
            if param.grad is not None:
                param.grad *= self.spec.scale

    @hookimpl
    def after_optimizer_step(self, trainer, optimizer) -> None:
        self.steps += 1

    @hookimpl
    def on_checkpoint_save(self, trainer, checkpoint) -> None:
        checkpoint["gradient_scale"] = {"steps": self.steps}

    @hookimpl
    def on_checkpoint_load(self, trainer, checkpoint) -> None:
        self.steps = checkpoint["gradient_scale"]["steps"]


class Misspelt:
    @hookimpl
    def after_backwards(self, trainer) -> None:  # not a hook: never called, so refused
        raise AssertionError("never called")


@pytest.fixture(autouse=True)
def registered():
    for name, cls in (("grad_scale_for_tests", GradientScale), ("misspelt_for_tests", Misspelt)):
        engrammar.unregister(name)
        engrammar.register("tricks", name)(cls)
    yield
    engrammar.unregister("grad_scale_for_tests")
    engrammar.unregister("misspelt_for_tests")


X, Y = torch.randn(24, 3, generator=torch.Generator().manual_seed(0)), torch.randn(24, 2)
PLAIN_SGD = dict(epochs=2, batch_size=8, optimizer="sgd", momentum=0.0, weight_decay=0.0, grad_clip=0.0)
LINEAR = {"use": "linear", "out_features": 2}


def test_a_trick_by_name_with_options_changes_training_as_it_says() -> None:
    halved = fit(LINEAR, (X, Y), tricks=["grad_scale_for_tests:scale=0.5"], lr=0.1, **PLAIN_SGD)
    slower = fit(LINEAR, (X, Y), lr=0.05, **PLAIN_SGD)  # plain SGD: half the gradient is half the rate
    plain = fit(LINEAR, (X, Y), lr=0.1, **PLAIN_SGD)
    for a, b, c in zip(halved.model.parameters(), slower.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a, c)
    from_mapping = fit(LINEAR, (X, Y), tricks=[{"use": "grad_scale_for_tests", "scale": 0.5}], lr=0.1, **PLAIN_SGD)
    for a, b in zip(halved.model.parameters(), from_mapping.model.parameters()):
        assert torch.equal(a, b)


def test_tricks_from_the_command_line_and_a_config_file(tmp_path, capsys) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("lr: 0.1\noptimizer: sgd\nmomentum: 0.0\ntricks:\n  - {use: grad_scale_for_tests, scale: 0.25}\n")
    base = ["train", "ema", "--task", "echo_for_tests", "--steps", "3", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "file"), "--config", str(config)]) == 0
    flag = ["--trick", "grad_scale_for_tests:scale=0.25", "--set", "train.lr=0.1", "--set", "train.optimizer=sgd"]
    assert main([*base, "--out", str(tmp_path / "flag"), *flag, "--set", "train.momentum=0"]) == 0
    a, b = load_checkpoint(tmp_path / "file"), load_checkpoint(tmp_path / "flag")
    assert a["gradient_scale"] == b["gradient_scale"] == {"steps": 3}
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["config"]["tricks"] == [{"use": "grad_scale_for_tests", "scale": 0.25}]


@pytest.mark.parametrize(
    ("trick", "message"),
    [
        ("grad_scal_for_tests", "error: train.tricks[0]: no trick named 'grad_scal_for_tests' of kind 'tricks'; did you mean 'grad_scale_for_tests'"),
        ("grad_scale_for_tests:scal=2", "error: grad_scale_for_tests.scal: unknown field; did you mean 'scale'?"),
        ("grad_scale_for_tests:scale=-1", "error: grad_scale_for_tests.scale: must be > 0.0, got -1"),
        ("grad_scale_for_tests:scale", "error: train.tricks[0]: expected key=value after 'grad_scale_for_tests:', got 'scale'"),
        ("misspelt_for_tests", "error: train.tricks[0]: 'after_backwards' is marked @hookimpl but is not a training hook; did you mean 'after_backward'?"),
    ],
)  # fmt: skip
def test_unknown_tricks_options_and_hooks_are_one_line_errors(trick, message, tmp_path, capsys) -> None:
    code = main(["train", "ema", "--task", "echo_for_tests", "--steps", "1", "--out", str(tmp_path), "--trick", trick])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(message), err


def test_trick_state_is_saved_and_restored_with_the_checkpoint(tmp_path) -> None:
    settings = dict(steps=6, batch_size=4, out=tmp_path, progress=False, tricks=["grad_scale_for_tests"])
    first = train("ema", "echo_for_tests", until=4, overrides=["train.eval_every=2"], **settings)
    assert load_checkpoint(tmp_path)["gradient_scale"] == {"steps": 4}
    assert first.trainer.hooks.get_plugin("train.tricks[0]").steps == 4
    resumed = train("ema", "echo_for_tests", resume=True, overrides=["train.eval_every=2"], **settings)
    trick = resumed.trainer.hooks.get_plugin("train.tricks[0]")
    assert isinstance(trick, GradientScale) and trick.steps == 6  # 4 restored + 2 new
