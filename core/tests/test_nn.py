"""Shared building blocks: gates by name, initialisation schemes, the trace recorder."""

from __future__ import annotations

import pytest
import torch
from engrammar.nn import GATE_TYPES, INITIALIZATIONS, Trace, gate, initialize_linear
from torch import nn


def test_gates_forward_values() -> None:
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3])
    torch.testing.assert_close(gate(x, "sigmoid", 10.0), torch.sigmoid(x))
    torch.testing.assert_close(gate(x, "steep_sigmoid", 10.0), torch.sigmoid(10 * x))
    assert gate(x, "heaviside", 10.0).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert set(GATE_TYPES) == {"sigmoid", "steep_sigmoid", "heaviside"}
    with pytest.raises(ValueError, match="unknown gate_type 'relu'"):
        gate(x, "relu", 1.0)


def test_heaviside_passes_the_sigmoid_gradient_straight_through() -> None:
    x = torch.tensor([-1.0, 0.5], requires_grad=True)
    gate(x, "heaviside", 1.0).sum().backward()
    s = torch.sigmoid(x.detach())
    torch.testing.assert_close(x.grad, s * (1 - s))


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
def test_initialization_schemes(scheme: str) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(8, 6)
    default_bias = layer.bias.detach().clone()
    before = layer.weight.detach().clone()
    initialize_linear(layer, scheme)
    if scheme == "torch":
        assert torch.equal(layer.weight, before) and torch.equal(layer.bias, default_bias)
    else:
        assert not torch.equal(layer.weight, before)
        assert torch.equal(layer.bias, torch.zeros(6))
    if scheme == "orthogonal":
        torch.testing.assert_close(layer.weight @ layer.weight.T, torch.eye(6), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown initialization"):
        initialize_linear(layer, "zeros")


def test_trace_stacks_steps_and_keeps_final_only_once() -> None:
    trace = Trace()
    assert trace.stacked() == {} and len(trace) == 0
    for t in range(3):
        trace.record({"w": torch.full((2, 4), float(t), requires_grad=True)}, final={"link": torch.full((2, 4, 4), t)})
    stacked = trace.stacked()
    assert stacked["w"].shape == (2, 3, 4) and stacked["w"][0, :, 0].tolist() == [0.0, 1.0, 2.0]
    assert not stacked["w"].requires_grad
    assert stacked["link"].shape == (2, 4, 4) and int(stacked["link"][0, 0, 0]) == 2
    trace.clear()
    assert len(trace) == 0 and trace.stacked() == {}


def test_rotary_scores_depend_on_the_offset_only() -> None:
    """q·k after rotating q to position p and k to p + d is the same for every p; norms are kept."""
    from engrammar.nn import rotary_angles, rotate

    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, generator=gen, dtype=torch.float64), torch.randn(8, generator=gen, dtype=torch.float64)
    scores = []
    for start in (0, 3, 1000, 10**7):
        cos, sin = rotary_angles(torch.tensor([start, start + 5]), 8, 10000.0, torch.float64)
        rotated_q, rotated_k = rotate(q, cos[0], sin[0]), rotate(k, cos[1], sin[1])
        assert torch.isclose(rotated_q.norm(), q.norm())
        scores.append(float(rotated_q @ rotated_k))
    assert max(scores) - min(scores) < 1e-9
    cos, sin = rotary_angles(torch.tensor([0, 1]), 8, 10000.0, torch.float64)
    assert not torch.isclose(rotate(q, cos[0], sin[0]) @ rotate(k, cos[1], sin[1]), q @ k)  # offset 1 differs
