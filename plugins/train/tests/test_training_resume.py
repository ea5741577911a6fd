"""Resuming is exact: N steps, a checkpoint, a new process's worth of objects, N more steps give the
same weights, optimizer state and logged metrics as 2N steps straight (CPU, deterministic
algorithms on), with dropout, a one-cycle schedule, truncated backpropagation and a stateful hook."""

from __future__ import annotations

import json

import engrammar
import engrammar_train
import pytest
import test_training_support as training_helpers
import torch
from engrammar_train import load_checkpoint

MODEL = {"use": "noisy_rnn_for_tests", "hidden_size": 6}
SETTINGS = [
    "task.length=9",
    "train.schedule=onecycle",
    "train.tbptt=4",
    "train.eval_every=4",
    "train.log_every=2",
    "train.deterministic=true",
    "train.lr=0.01",
]


def _run(out, steps=8, until=None, resume=False, hooks=None):
    return engrammar_train.train(
        MODEL,
        "echo_for_tests",
        steps=steps,
        batch_size=4,
        out=out,
        overrides=SETTINGS,
        hooks=hooks if hooks is not None else [training_helpers.GradientEcho()],
        resume=resume,
        progress=False,
        until=until,
    )


def _train_lines(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


def test_resume_equals_straight_run(tmp_path) -> None:
    straight = _run(tmp_path / "straight")
    first = _run(tmp_path / "split", until=4)
    assert first.step == 4
    resumed = _run(tmp_path / "split", resume=True)
    assert resumed.step == 8
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    saved_a = load_checkpoint(tmp_path / "straight")
    saved_b = load_checkpoint(tmp_path / "split")
    for index, state in saved_a["optimizer"]["state"].items():
        for name, tensor in state.items():
            assert torch.equal(tensor, saved_b["optimizer"]["state"][index][name]), (index, name)
    assert saved_a["scheduler"] == saved_b["scheduler"]
    assert torch.equal(saved_a["rng"]["data"], saved_b["rng"]["data"])
    assert _train_lines(tmp_path / "straight" / "metrics.jsonl") == _train_lines(tmp_path / "split" / "metrics.jsonl")


def test_resume_needs_the_hooks_state(tmp_path) -> None:
    """The check above can fail: a hook that forgets its state on load breaks exactness."""

    class Forgetful(training_helpers.GradientEcho):
        @engrammar.hookimpl
        def on_checkpoint_load(self, trainer, checkpoint) -> None:
            self.previous = {}

    straight = _run(tmp_path / "straight")
    _run(tmp_path / "split", until=4, hooks=[Forgetful()])
    resumed = _run(tmp_path / "split", resume=True, hooks=[Forgetful()])
    differs = [k for k, v in straight.model.state_dict().items() if not torch.equal(v, resumed.model.state_dict()[k])]
    assert differs


def test_resume_refuses_another_model_or_schedule_length(tmp_path) -> None:
    _run(tmp_path / "run", steps=8)
    with pytest.raises(engrammar.SpecError, match="onecycle schedule spans"):
        _run(tmp_path / "run", steps=12, resume=True)
    with pytest.raises(engrammar.SpecError, match="another model"):
        engrammar_train.train(
            {"use": "noisy_rnn_for_tests", "hidden_size": 7},
            "echo_for_tests",
            steps=8,
            out=tmp_path / "run",
            overrides=SETTINGS,
            resume=True,
            progress=False,
        )


def test_resume_is_exact_for_a_wiring_with_feedback(tmp_path) -> None:
    """The same for a graph whose state holds delayed outputs (a step-major loop)."""
    wiring = {
        "name": "loop",
        "nodes": {
            "ctrl": {"use": "noisy_rnn_for_tests", "hidden_size": 5, "in": ["x", "mem@-1"]},
            "mem": {"use": "ema", "in": "ctrl"},
        },
        "out": ["ctrl", "mem"],
    }

    def run(out, until=None, resume=False):
        return engrammar_train.train(
            wiring,
            "echo_for_tests",
            steps=6,
            batch_size=3,
            out=out,
            overrides=[*SETTINGS[:1], "train.tbptt=3", "train.deterministic=true"],
            resume=resume,
            progress=False,
            until=until,
        )

    straight = run(tmp_path / "straight")
    run(tmp_path / "split", until=3)
    resumed = run(tmp_path / "split", resume=True)
    assert set(straight.model.state_dict()) == set(resumed.model.state_dict())
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
