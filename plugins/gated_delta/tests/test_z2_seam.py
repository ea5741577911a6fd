"""``z2_seam``: the fast loop against the literal definition, exact oddness, the parity energy,
the seam gate's threshold, traces through the recorder, the spec's rules and the seed's alias."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar.testing import assert_matches_oracle
from engrammar_gated_delta import K_STAR, Z2Seam, Z2SeamGatedRNN, parity_energy
from engrammar_gated_delta.ops.seam_naive import (
    involution,
    naive_parity_energy,
    naive_z2_seam,
    parity_projectors,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def model_and_inputs(hidden=6, in_features=3, batch=2, length=17, seed=0, **spec):
    torch.manual_seed(seed)
    model = Z2Seam(in_features=in_features, hidden_size=hidden, **spec).double()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, length, in_features, generator=gen, dtype=torch.float64)
    h0 = torch.randn(batch, hidden, generator=gen, dtype=torch.float64)
    return model, x, h0, gen


def oracle(model, x, h0, resets):
    return naive_z2_seam(
        x,
        model.a_plus,
        model.a_minus,
        model.w_flip,
        model.input_proj.weight,
        k_star=model.spec.k_star,
        temperature=model.spec.temperature,
        initial_state=h0,
        resets=resets,
    )


@pytest.mark.parametrize("with_resets", [False, True])
@pytest.mark.parametrize("sharp", [False, True])
def test_fast_path_matches_the_literal_definition_in_values_and_gradients(with_resets, sharp):
    spec = {"temperature": 0.05, "k_star": 0.5} if sharp else {"temperature": 1.0}
    model, x, h0, gen = model_and_inputs(**spec)
    resets = (torch.rand(2, 17, generator=gen) < 0.15) if with_resets else None
    x, h0 = x.requires_grad_(), h0.requires_grad_()
    with engrammar.recording(model, traces=True) as record:
        y, state = model(x, {"hidden": h0}, resets)
    trace = record.trace(model)
    hidden, energy, gate = oracle(model, x, h0, resets)
    assert_matches_oracle(
        (y, state["hidden"]),
        (hidden, hidden[:, -1]),
        [x, h0, *model.parameters()],
        nonzero_gradients=True,
    )
    assert torch.allclose(trace["parity_energy"], energy.detach(), atol=1e-12, rtol=0)
    assert torch.allclose(trace["gate"], gate.detach(), atol=1e-12, rtol=0)
    assert trace["gate"].shape == (2, 17)


def test_step_by_step_matches_the_literal_definition():
    model, x, h0, _ = model_and_inputs(length=6)
    state = {"hidden": h0}
    outputs = []
    with torch.no_grad(), engrammar.recording(model, traces=True) as record:
        for t in range(6):
            y_t, state = model.step(x[:, t], state)
            outputs.append(y_t)
        hidden, energy, gate = oracle(model, x, h0, None)
    assert torch.allclose(torch.stack(outputs, 1), hidden, atol=1e-12, rtol=0)
    assert torch.allclose(record.trace(model)["gate"], gate, atol=1e-12, rtol=0)
    assert torch.allclose(record.trace(model)["parity_energy"], energy, atol=1e-12, rtol=0)


@settings(max_examples=30, deadline=None)
@given(
    half=st.integers(1, 5),
    in_features=st.integers(1, 4),
    length=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    temperature=st.sampled_from([0.05, 1.0]),
)
def test_the_unit_is_exactly_odd(half, in_features, length, seed, scale, temperature):
    """model(−x, −h₀) = −model(x, h₀) bit for bit: no bias, tanh odd, the gate even."""
    torch.manual_seed(seed)
    model = Z2Seam(in_features=in_features, hidden_size=2 * half, temperature=temperature).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, length, in_features, generator=gen, dtype=torch.float64) * scale
    h0 = torch.randn(2, 2 * half, generator=gen, dtype=torch.float64)
    resets = torch.rand(2, length, generator=gen) < 0.2
    with torch.no_grad():
        y, state = model(x, {"hidden": h0}, resets)
        y_neg, state_neg = model(-x, {"hidden": -h0}, resets)
        step_y, _ = model.step(x[:, 0], {"hidden": h0})
        step_y_neg, _ = model.step(-x[:, 0], {"hidden": -h0})
    assert torch.equal(y_neg, -y)
    assert torch.equal(state_neg["hidden"], -state["hidden"])
    assert torch.equal(step_y_neg, -step_y)


def test_parity_energy_definition():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    s = involution(8, dtype=torch.float64)
    p_plus, p_minus = parity_projectors(s)
    assert torch.equal(s @ s, torch.eye(8, dtype=torch.float64))
    assert torch.allclose(p_plus @ p_minus, torch.zeros(8, 8, dtype=torch.float64))
    assert torch.allclose(parity_energy(h), naive_parity_energy(h, p_minus), atol=1e-14, rtol=0)
    alpha = parity_energy(h)
    assert bool(((alpha >= 0) & (alpha < 1)).all())
    assert torch.allclose(parity_energy(7.5 * h), alpha, atol=1e-10)  # scale invariant
    assert torch.equal(parity_energy(-h), alpha)
    even = torch.cat([h[:, :4], h[:, :4]], dim=1)  # S h = h
    odd = torch.cat([h[:, :4], -h[:, :4]], dim=1)  # S h = −h
    assert parity_energy(even).abs().max() < 1e-15
    assert torch.allclose(parity_energy(odd), torch.ones(5, dtype=torch.float64), atol=1e-8)
    assert parity_energy(torch.zeros(3, 8)).abs().max() == 0


def test_gate_opens_as_the_parity_energy_crosses_k_star():
    model = Z2Seam(in_features=1, hidden_size=2, temperature=0.01).double()
    # h = (cos θ, sin θ) with halves a = cos θ, b = sin θ: α = (cos θ − sin θ)² / 2 = (1 − sin 2θ) / 2
    angles = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    h = torch.stack([angles.cos(), angles.sin()], dim=1)
    energy, gate = model._gate(h)
    assert torch.allclose(energy, (1 - torch.sin(2 * angles)) / 2, atol=1e-7)
    assert bool((gate[energy > K_STAR + 0.05] > 0.99).all())
    assert bool((gate[energy < K_STAR - 0.05] < 0.01).all())
    soft = Z2Seam(in_features=1, hidden_size=2, temperature=1.0).double()
    _, soft_gate = soft._gate(h)
    assert soft_gate.max() - soft_gate.min() < 0.5  # a high temperature barely separates


def test_commuting_weight_commutes_with_the_involution_and_matches_projectors():
    model = Z2Seam(in_features=2, hidden_size=6).double()
    s = involution(6, dtype=torch.float64)
    p_plus, p_minus = parity_projectors(s)
    w_comm = model.commuting_weight()
    expected = p_plus @ model.a_plus @ p_plus + p_minus @ model.a_minus @ p_minus
    assert torch.allclose(w_comm, expected, atol=1e-14)
    assert (w_comm @ s - s @ w_comm).abs().max() < 1e-14
    assert torch.allclose(model.seam_weight(), s @ model.w_flip)


def test_no_bias_and_orthogonal_flip():
    model = Z2Seam(in_features=3, hidden_size=8, orthogonal_flip=True)
    assert model.input_proj.bias is None
    assert torch.allclose(model.w_flip.T @ model.w_flip, torch.eye(8), atol=1e-5)
    plain = Z2Seam(in_features=3, hidden_size=8)
    assert not torch.allclose(plain.w_flip.T @ plain.w_flip, torch.eye(8), atol=1e-2)


@pytest.mark.parametrize(
    ("fields", "path"),
    [({"hidden_size": 5}, "hidden_size"), ({"temperature": 0.0}, "temperature"), ({"k_star": 1.5}, "k_star")],
)
def test_bad_spec_names_the_field(fields, path):
    with pytest.raises(SpecError, match=rf"^z2_seam\.{path}: must be"):
        engrammar.build("z2_seam", in_features=2, **fields)


def test_seed_alias_builds_the_registered_component():
    model = Z2SeamGatedRNN(input_dim=4, hidden_dim=64, temperature=0.05, k_star=None)
    assert isinstance(model, Z2Seam)
    assert model.spec.k_star == pytest.approx(1 / (2 * math.log(2))) == pytest.approx(0.721347520444)
    assert (model.in_features, model.spec.hidden_size, model.spec.temperature) == (4, 64, 0.05)
    y, state = model(torch.randn(3, 10, 4))
    assert y.shape == (3, 10, 64) and state["hidden"].shape == (3, 64)
    assert Z2SeamGatedRNN(4, 8, k_star=0.6, orthogonal_flip=True).spec.orthogonal_flip
