"""agc by hand: unit-wise norms, the clipping rule, and one SGD step of a run."""

from __future__ import annotations

import torch
from engrammar_tricks import AGC
from engrammar_tricks.agc import clip_unitwise, unitwise_norm
from trainer_runs import PLAIN_SGD, run, weights


def test_the_clipping_rule_by_hand() -> None:
    weight = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # unit norms 5 and 0 (-> eps)
    grad = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert unitwise_norm(weight).flatten().tolist() == [5.0, 0.0]
    clipped = clip_unitwise(grad, weight, clipping=0.1, eps=1e-3)
    torch.testing.assert_close(clipped, torch.tensor([[0.5, 0.0], [0.0, 1e-4]]))
    bias, bias_grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 10.0])  # a vector is one unit
    torch.testing.assert_close(clip_unitwise(bias_grad, bias, 0.1, 1e-3), torch.tensor([0.0, 0.5]))
    small = torch.tensor([[0.1, 0.0], [0.0, 0.0]])  # under the limit: untouched
    assert torch.equal(clip_unitwise(small, weight, 0.1, 1e-3)[0], small[0])


def _expected_step(start: dict, name: str, clipping: float) -> torch.Tensor:
    weight = start[name]
    grad = torch.full_like(weight, 0.5)  # mean of two outputs: 1/2 for every entry
    unit = weight.norm(dim=1, keepdim=True) if weight.dim() > 1 else weight.norm()
    limit = unit.clamp(min=1e-3) * clipping
    norm = grad.norm(dim=1, keepdim=True) if weight.dim() > 1 else grad.norm()
    clipped = grad * torch.where(norm > limit, limit / norm, torch.ones_like(norm))
    return weight - 0.1 * clipped


def test_a_step_of_a_run_is_clipped_unit_by_unit() -> None:
    model, task = {"use": "linear", "out_features": 2}, {"use": "mean_output_for_tricks", "width": 2}
    start = weights(run(model, task, steps=1, until=0, overrides=PLAIN_SGD))
    end = weights(run(model, task, steps=1, hooks=[AGC(clipping=0.05)], overrides=PLAIN_SGD))
    for name in ("proj.weight", "proj.bias"):
        torch.testing.assert_close(end[name], _expected_step(start, name, 0.05))
    excluded = weights(run(model, task, steps=1, hooks=[AGC(clipping=0.05, exclude=["proj.b*"])], overrides=PLAIN_SGD))
    torch.testing.assert_close(excluded["proj.bias"], start["proj.bias"] - 0.05)  # unclipped: 0.1 × 1/2
    torch.testing.assert_close(excluded["proj.weight"], end["proj.weight"])
    assert not torch.allclose(excluded["proj.bias"], end["proj.bias"])  # the clipping did act
