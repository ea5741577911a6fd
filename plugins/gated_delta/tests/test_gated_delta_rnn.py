"""``gated_delta_rnn``: scan equals loop, exact Z2 symmetry, the gate trace and the seed's alias."""

from __future__ import annotations

import pytest
import torch
from engrammar_gated_delta import GatedDeltaRNN, Z2GatedDeltaRNN
from hypothesis import given, settings
from hypothesis import strategies as st


def pair(**spec):
    """The same parameters with the scan and with the loop, in float64."""
    torch.manual_seed(0)
    scan = GatedDeltaRNN(use_parallel_scan=True, **spec).double()
    loop = GatedDeltaRNN(use_parallel_scan=False, **spec).double()
    loop.load_state_dict(scan.state_dict())
    return scan, loop


@pytest.mark.parametrize("z2", [False, True])
@pytest.mark.parametrize("with_resets", [False, True])
@pytest.mark.parametrize("context", [False, True])
def test_scan_and_loop_agree_in_values_and_gradients(z2, with_resets, context):
    scan, loop = pair(in_features=3, hidden_size=12, delta_rank=3, z2_symmetric=z2, gate_context=context)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 45, 3, generator=gen, dtype=torch.float64)
    h0 = torch.randn(2, 12, generator=gen, dtype=torch.float64)
    start = {"hidden": h0}
    if context:
        start["previous_input"] = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    resets = (torch.rand(2, 45, generator=gen) < 0.1) if with_resets else None
    weights = torch.randn(2, 45, 12, generator=gen, dtype=torch.float64)
    results = []
    for model in (scan, loop):
        xs, hs = x.clone().requires_grad_(), h0.clone().requires_grad_()
        y, state = model(xs, {**start, "hidden": hs}, resets)
        loss = (y * weights).sum() + state["hidden"].sum()
        grads = torch.autograd.grad(loss, [xs, hs, *model.parameters()])
        results.append((y, state["hidden"], grads))
    (y_scan, h_scan, g_scan), (y_loop, h_loop, g_loop) = results
    assert (y_scan - y_loop).abs().max() < 1e-10
    assert (h_scan - h_loop).abs().max() < 1e-10
    for a, b in zip(g_scan, g_loop):
        assert (a - b).abs().max() < 1e-9


@settings(max_examples=25, deadline=None)
@given(
    in_features=st.integers(1, 4),
    hidden=st.integers(1, 9),
    rank=st.integers(1, 4),
    length=st.integers(1, 12),
    scan=st.booleans(),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    context=st.booleans(),
)
def test_z2_symmetric_unit_is_exactly_odd(in_features, hidden, rank, length, scan, seed, scale, context):
    torch.manual_seed(seed)
    model = GatedDeltaRNN(
        in_features=in_features,
        hidden_size=hidden,
        delta_rank=rank,
        z2_symmetric=True,
        use_parallel_scan=scan,
        gate_context=context,
    ).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, length, in_features, generator=gen, dtype=torch.float64) * scale
    start = {"hidden": torch.randn(2, hidden, generator=gen, dtype=torch.float64)}
    if context:
        start["previous_input"] = torch.randn(2, in_features, generator=gen, dtype=torch.float64)
    negated = {key: -value for key, value in start.items()}
    resets = torch.rand(2, length, generator=gen) < 0.2
    with torch.no_grad():
        y, state = model(x, start, resets)
        y_neg, state_neg = model(-x, negated, resets)
        step_y, step_state = model.step(x[:, 0], start)
        step_y_neg, step_state_neg = model.step(-x[:, 0], negated)
    assert torch.allclose(y_neg, -y, atol=1e-12, rtol=0)
    assert torch.allclose(state_neg["hidden"], -state["hidden"], atol=1e-12, rtol=0)
    assert torch.allclose(step_y_neg, -step_y, atol=1e-12, rtol=0)
    assert torch.allclose(step_state_neg["hidden"], -step_state["hidden"], atol=1e-12, rtol=0)


def test_without_z2_the_unit_is_not_odd():
    torch.manual_seed(0)
    model = GatedDeltaRNN(in_features=3, hidden_size=8, delta_rank=2).double()
    x = torch.randn(1, 10, 3, dtype=torch.float64)
    with torch.no_grad():
        assert (model(-x)[0] + model(x)[0]).abs().max() > 1e-3


def test_z2_unit_has_no_bias_on_the_odd_path():
    model = GatedDeltaRNN(in_features=3, hidden_size=8, delta_rank=2, z2_symmetric=True)
    assert model.input_down.bias is None and model.delta_up.bias is None
    assert model.gate_proj.bias is not None  # the gate is even: a bias there keeps the symmetry


def test_trace_outputs_hidden_state_and_gate():
    torch.manual_seed(0)
    plain = GatedDeltaRNN(in_features=2, hidden_size=5, delta_rank=2)
    traced = GatedDeltaRNN(in_features=2, hidden_size=5, delta_rank=2, trace=True)
    traced.load_state_dict(plain.state_dict())
    x = torch.randn(3, 7, 2)
    y, _ = plain(x)
    y_traced, _ = traced(x)
    assert traced.out_features == 6 and y_traced.shape == (3, 7, 6)
    assert torch.allclose(y_traced[..., :5], y)
    gate = y_traced[..., 5:]
    assert torch.allclose(gate, traced.gate(x))
    assert bool((gate > 0).all() and (gate < 1).all())


def test_gate_context_lets_the_gate_see_a_sign_flip():
    torch.manual_seed(0)
    model = GatedDeltaRNN(in_features=2, hidden_size=4, delta_rank=2, z2_symmetric=True, gate_context=True).double()
    x = torch.ones(1, 6, 2, dtype=torch.float64)
    flipped = x.clone()
    flipped[:, 3:] *= -1  # a seam at step 3
    with torch.no_grad():
        gates, gates_flipped = model.gate_sequence(x), model.gate_sequence(flipped)
    assert gates.shape == (1, 6)
    changed = (gates - gates_flipped).abs()[0]
    assert changed[3] > 1e-6  # only the step that straddles the seam sees it
    assert torch.all(changed[[0, 1, 2, 4, 5]] < 1e-12)
    plain = GatedDeltaRNN(in_features=2, hidden_size=4, delta_rank=2, z2_symmetric=True).double()
    with torch.no_grad():
        assert torch.equal(plain.gate_sequence(x), plain.gate_sequence(flipped))


def test_seed_alias_builds_the_registered_component():
    model = Z2GatedDeltaRNN(input_dim=4, hidden_dim=64, delta_rank=8, use_parallel_scan=True)
    assert isinstance(model, GatedDeltaRNN)
    assert (model.in_features, model.spec.hidden_size, model.spec.delta_rank) == (4, 64, 8)
    assert model.spec.z2_symmetric and model.spec.use_parallel_scan
    y, state = model(torch.randn(2, 100, 4))
    assert y.shape == (2, 100, 64) and state["hidden"].shape == (2, 64)
    assert not Z2GatedDeltaRNN(4, 8, use_parallel_scan=False).spec.use_parallel_scan
