"""Every DNC spec option changes what it says it changes (and nothing is a dead flag)."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar.nn.gates import gate
from engrammar.spec import RetiredFieldWarning, SpecError
from engrammar.testing import read_out_tests
from engrammar.wiring import build_wiring
from engrammar_dnc import DNC
from engrammar_dnc.addressing import allocation_weights
from engrammar_dnc.interface import parse_interface

SMALL = {"in_features": 5, "memory_size": 6, "word_size": 4, "num_reads": 2, "num_writes": 1}


def build(**fields):
    torch.manual_seed(0)
    return DNC(**{**SMALL, **fields}).double()


def inputs(batch=3, length=4, width=5, seed=1):
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def warm_state(component, batch=3):
    # a state with non-zero memory and usage, so erase and allocation have something to act on
    _, state = component(inputs(batch=batch, seed=2))
    return state


def test_sizes_and_head_counts_shape_state_and_output():
    component = build(memory_size=7, word_size=3, num_reads=3, num_writes=2)
    y, state = component(inputs())
    assert y.shape == (3, 4, 3 * 3)
    assert state["memory"].shape == (3, 7, 3)
    assert state["readers"]["weights"].shape == (3, 3, 7)
    assert state["writers"]["link"].shape == (3, 2, 7, 7)


def test_erasure_off_only_adds_to_memory():
    component = build(erasure=False)
    state = warm_state(component)
    x_t = inputs()[:, 0]
    _, new_state = component.step(x_t, state)
    interface = parse_interface(component.interface(x_t), component.layout)
    assert interface.erase_vectors is None
    added = torch.einsum("bhn,bhw->bnw", new_state["writers"]["weights"], interface.write_vectors)
    torch.testing.assert_close(new_state["memory"], state["memory"] + added)
    assert component.layout.size == build().layout.size - SMALL["num_writes"] * SMALL["word_size"]


def test_erasure_on_erases():
    component = build()
    state = warm_state(component)
    x_t = inputs()[:, 0]
    _, new_state = component.step(x_t, state)
    interface = parse_interface(component.interface(x_t), component.layout)
    added = torch.einsum("bhn,bhw->bnw", new_state["writers"]["weights"], interface.write_vectors)
    assert not torch.allclose(new_state["memory"], state["memory"] + added)


def test_gating_off_always_writes_to_the_allocated_cell():
    component = build(gating=False)
    _, state = component(inputs(length=1))
    # from the empty memory every sample allocates cell 0 in full, whatever its input
    expected = torch.zeros(3, 1, 6, dtype=torch.float64)
    expected[:, :, 0] = 1.0
    torch.testing.assert_close(state["writers"]["weights"], expected, atol=1e-5, rtol=0)
    state = warm_state(component)
    _, new_state = component.step(inputs()[:, 0], state)
    interface = parse_interface(component.interface(inputs()[:, 0]), component.layout)
    usage = new_state["usage"]
    torch.testing.assert_close(new_state["writers"]["weights"][:, 0], allocation_weights(usage))
    assert torch.equal(interface.write_gates, torch.ones_like(interface.write_gates))
    assert component.layout.size == build().layout.size - 2 * SMALL["num_writes"]


def test_gating_on_uses_learned_gates():
    component = build()
    _, state = component(inputs(length=1))
    assert not torch.allclose(state["writers"]["weights"][:, 0, 0], torch.ones(3, dtype=torch.float64), atol=1e-3)


def test_gate_types():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(gate(x, "steep_sigmoid", 10.0), torch.sigmoid(10 * x))
    torch.testing.assert_close(gate(x, "steep_sigmoid", 3.0), torch.sigmoid(3 * x))
    hard = gate(x, "heaviside", 10.0)
    assert torch.equal(hard, (x > 0).double())
    (grad,) = torch.autograd.grad(hard.sum(), x)
    sig = torch.sigmoid(x.detach())
    torch.testing.assert_close(grad, sig * (1 - sig))  # straight-through: the sigmoid's gradient


def test_heaviside_gates_are_binary_in_the_component():
    component = build(gate_type="heaviside")
    interface = parse_interface(component.interface(inputs()[:, 0]), component.layout)
    for gates in (interface.write_gates, interface.allocation_gates, interface.free_gates):
        assert bool(((gates == 0) | (gates == 1)).all())


def test_fixed_beta_replaces_learned_strengths():
    learned, fixed = build(), build(beta=50.0)
    assert fixed.layout.size == learned.layout.size - SMALL["num_reads"] - SMALL["num_writes"]
    interface = parse_interface(fixed.interface(inputs()[:, 0]), fixed.layout)
    assert bool((interface.read_strengths == 50.0).all()) and bool((interface.write_strengths == 50.0).all())
    interface = parse_interface(learned.interface(inputs()[:, 0]), learned.layout)
    assert bool((interface.read_strengths >= 1.0).all()) and interface.read_strengths.std() > 0


def test_gamma_one_is_identity_learned_and_fixed_gamma_sharpen():
    plain = build()
    assert parse_interface(plain.interface(inputs()[:, 0]), plain.layout).read_sharpness is None
    learned = build(gamma=None)
    assert learned.layout.size == plain.layout.size + SMALL["num_reads"] + SMALL["num_writes"]
    interface = parse_interface(learned.interface(inputs()[:, 0]), learned.layout)
    assert bool((interface.read_sharpness >= 1.0).all())
    # same parameters, γ = 3: read weightings concentrate (mass kept: see test_addressing)
    sharp = build(gamma=3.0)
    _, state_plain = plain(inputs())
    _, state_sharp = sharp(inputs())
    w_plain, w_sharp = state_plain["readers"]["weights"], state_sharp["readers"]["weights"]
    peak = lambda w: (w.max(-1).values / w.sum(-1)).mean()  # noqa: E731
    assert peak(w_sharp) > peak(w_plain)


@pytest.mark.parametrize("scheme", ["xavier", "kaiming", "orthogonal", "normal", "torch"])
def test_initialization_schemes(scheme):
    torch.manual_seed(0)
    weight = DNC(**SMALL, initialization=scheme).interface.weight.detach()
    bias = DNC(**SMALL, initialization=scheme).interface.bias.detach()
    fan_out, fan_in = weight.shape
    if scheme == "xavier":
        assert weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))
        assert weight.abs().max() > 0.5 * math.sqrt(6 / (fan_in + fan_out))
    elif scheme == "kaiming":
        assert weight.abs().max() <= math.sqrt(3 / fan_in)
        assert weight.abs().max() > math.sqrt(6 / (fan_in + fan_out))  # wider than xavier here
    elif scheme == "orthogonal":
        torch.testing.assert_close(weight.T @ weight, torch.eye(fan_in), atol=1e-5, rtol=0)
    elif scheme == "normal":
        assert 0.01 < float(weight.std()) < 0.03
    if scheme == "torch":
        assert bias.abs().sum() > 0  # PyTorch's default leaves a random bias
    else:
        assert bool((bias == 0).all())


def test_trace_records_weightings_and_changes_nothing():
    component = build()
    x = inputs()
    plain_y, plain_state = component(x)
    with engrammar.recording(component, traces=True) as record:
        y, state = component(x)
    # tracing takes the unfused step path; results agree to rounding, and the state is as declared
    torch.testing.assert_close(y, plain_y)
    torch.testing.assert_close(state["memory"], plain_state["memory"])
    assert set(state) == {"memory", "usage", "readers", "writers"}
    trace = record.trace(component)
    assert trace["read_weights"].shape == (3, 4, 2, 6)
    assert trace["write_weights"].shape == (3, 4, 1, 6)
    assert trace["usage"].shape == (3, 4, 6)
    assert trace["write_gates"].shape == (3, 4, 1)
    assert trace["link"].shape == (3, 1, 6, 6)
    torch.testing.assert_close(trace["usage"][:, -1], state["usage"])
    torch.testing.assert_close(trace["link"], state["writers"]["link"])
    # steps inside the same recording append; a new recording starts empty
    with engrammar.recording(component, traces=True) as record:
        _, state = component(x)
        component.step(x[:, 0], state)
    assert record.trace(component)["usage"].shape == (3, 5, 6)
    assert not hasattr(component, "last_trace")


def test_specs_with_the_retired_trace_field_still_load():
    """Specs and checkpoints written when `trace` was a field load; asking for a trace warns."""
    old = {**SMALL, "trace": False}
    component = engrammar.build({"use": "dnc", **old})
    assert "trace" not in engrammar.unstructure(component.spec)
    saved = DNC(**SMALL).state_dict()
    component.load_state_dict(saved)  # the parameters did not change
    with pytest.warns(RetiredFieldWarning, match=r"^nodes\.mem\.trace: retired field, True ignored: record traces"):
        build_wiring(
            {
                "name": "old",
                "in_features": 5,
                "nodes": {"mem": {"use": "dnc", "memory_size": 6, "trace": True, "in": "x"}},
                "out": "mem",
            }
        )


def test_bad_values_name_the_field():
    with pytest.raises(SpecError, match="memory_size"):
        DNC(in_features=3, memory_size=0)
    with pytest.raises(SpecError, match="gate_type"):
        DNC(in_features=3, gate_type="relu")
    with pytest.raises(SpecError, match="gamma"):
        DNC(in_features=3, gamma=0.5)


# normalization, dropout and pass_through: core's ReadOut, checked as this memory applies it
TestDNCReadOut = read_out_tests("dnc", SMALL)
