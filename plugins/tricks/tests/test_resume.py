"""Every trick with state resumes exactly: N steps, a checkpoint, a fresh trainer and trick, N more
steps give the weights, optimizer state and trick state of 2N steps straight (CPU, bitwise)."""

from __future__ import annotations

import pytest
import torch
from engrammar_train import load_checkpoint
from engrammar_tricks import AGC, DarwinianRegeneration, EMAWeights, GhostGradients, GradNoise, SynapticNoise
from trainer_runs import run
from tricks_support import ELMAN_WIRING

SETTINGS = [
    "train.momentum=0.9",
    "train.optimizer=sgd",
    "train.lr=0.05",
    "train.eval_every=3",
    "train.deterministic=true",
]
TRICKS = {
    "ghost_gradients": lambda: GhostGradients(persistence=0.3),
    "synaptic_noise": lambda: SynapticNoise(std=1e-3),
    "grad_noise": lambda: GradNoise(eta=0.01),
    "agc": lambda: AGC(clipping=0.02),
    "darwinian_regeneration": lambda: DarwinianRegeneration(percentage=0.1, every=3),
    "ema_weights": lambda: EMAWeights(decay=0.9),
}


def _run(out, make, until=None, resume=False):
    return run(
        ELMAN_WIRING,
        "echo_for_tricks",
        steps=8,
        hooks=[make()],
        overrides=SETTINGS,
        out=out,
        until=until,
        resume=resume,
    )


@pytest.mark.parametrize("name", sorted(TRICKS))
def test_resume_equals_a_straight_run(name: str, tmp_path) -> None:
    make = TRICKS[name]
    straight = _run(tmp_path / "straight", make)
    _run(tmp_path / "split", make, until=4)
    resumed = _run(tmp_path / "split", make, resume=True)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "split")
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key]), (index, key)
    assert _flatten(a["tricks"][name]) == _flatten(b["tricks"][name])


def test_a_trick_that_forgets_its_state_does_not_resume_exactly(tmp_path) -> None:
    """The check above can fail: synaptic noise restarting its generator draws other noise."""

    class Forgetful(SynapticNoise):
        def load_state(self, state) -> None:
            pass

    make = lambda: Forgetful(std=1e-3)  # noqa: E731
    straight = _run(tmp_path / "straight", make)
    _run(tmp_path / "split", make, until=4)
    resumed = _run(tmp_path / "split", make, resume=True)
    assert any(not torch.equal(v, resumed.model.state_dict()[k]) for k, v in straight.model.state_dict().items())


def _flatten(value):
    if isinstance(value, dict):
        return {k: _flatten(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value
