"""Every NTM spec option changes what it says it changes (and nothing is a dead flag)."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar.nn.gates import gate
from engrammar.spec import RetiredFieldWarning, SpecError
from engrammar.testing import read_out_tests
from engrammar_ntm import NTM
from engrammar_ntm.interface import parse_interface

SMALL = {"in_features": 5, "memory_size": 6, "word_size": 4, "num_reads": 2, "num_writes": 1}


def build(**fields):
    torch.manual_seed(0)
    return NTM(**{**SMALL, **fields}).double()


def inputs(batch=3, length=4, width=5, seed=1):
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def warm_state(component, batch=3):
    _, state = component(inputs(batch=batch, seed=2))
    return state


def interface_of(component, x_t):
    return parse_interface(component.interface(x_t), component.layout)


def test_initial_state_focuses_every_head_on_cell_zero():
    component = build()
    state = component.init_state(2, dtype=torch.float64)
    # the initial memory is a fixed buffer of small distinct words, the same for every sample
    assert torch.equal(state["memory"][0], component.initial_memory)
    assert torch.equal(state["memory"][1], component.initial_memory)
    assert 0 < float(state["memory"].abs().max()) <= 1 / math.sqrt(6 + 4)
    expected = torch.zeros(2, 2, 6, dtype=torch.float64)
    expected[..., 0] = 1
    assert torch.equal(state["readers"]["weights"], expected)


def test_sizes_and_head_counts_shape_state_and_output():
    component = build(memory_size=7, word_size=3, num_reads=3, num_writes=2, shift_range=2)
    y, state = component(inputs())
    assert y.shape == (3, 4, 9)
    assert state["memory"].shape == (3, 7, 3)
    assert state["readers"]["weights"].shape == (3, 3, 7)
    assert state["writers"]["weights"].shape == (3, 2, 7)
    assert interface_of(component, inputs()[:, 0]).reads.shifts.shape == (3, 3, 5)


def test_erasure_off_only_adds():
    component = build(erasure=False)
    state = warm_state(component)
    x_t = inputs()[:, 0]
    _, new_state = component.step(x_t, state)
    interface = interface_of(component, x_t)
    assert interface.erase_vectors is None
    added = torch.einsum("bhn,bhw->bnw", new_state["writers"]["weights"], interface.add_vectors)
    torch.testing.assert_close(new_state["memory"], state["memory"] + added)
    # and with erasure on, the same write is not a pure addition
    component = build()
    _, new_state = component.step(x_t, state)
    interface = interface_of(component, x_t)
    added = torch.einsum("bhn,bhw->bnw", new_state["writers"]["weights"], interface.add_vectors)
    assert not torch.allclose(new_state["memory"], state["memory"] + added)


def test_gating_off_uses_the_content_weighting():
    component = build(gating=False)
    assert component.layout.size == build().layout.size - SMALL["num_reads"] - SMALL["num_writes"]
    interface = interface_of(component, inputs()[:, 0])
    assert bool((interface.reads.gates == 1).all()) and bool((interface.writes.gates == 1).all())
    # g = 1: the previous weighting is ignored, so two different previous weightings agree
    state = warm_state(component)
    first, second = torch.zeros(3, 1, 6, dtype=torch.float64), torch.zeros(3, 1, 6, dtype=torch.float64)
    first[..., 0], second[..., 3] = 1.0, 1.0
    _, a = component.step(inputs()[:, 0], {**state, "writers": {"weights": first}})
    _, b = component.step(inputs()[:, 0], {**state, "writers": {"weights": second}})
    torch.testing.assert_close(a["writers"]["weights"], b["writers"]["weights"])
    # with learned gates (g < 1) the previous weighting matters
    component = build()
    _, a = component.step(inputs()[:, 0], {**state, "writers": {"weights": first}})
    _, b = component.step(inputs()[:, 0], {**state, "writers": {"weights": second}})
    assert not torch.allclose(a["writers"]["weights"], b["writers"]["weights"])


def test_gate_types():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(gate(x, "steep_sigmoid", 10.0), torch.sigmoid(10 * x))
    hard = gate(x, "heaviside", 10.0)
    assert torch.equal(hard, (x > 0).double())
    (grad,) = torch.autograd.grad(hard.sum(), x)
    sig = torch.sigmoid(x.detach())
    torch.testing.assert_close(grad, sig * (1 - sig))
    interface = interface_of(build(gate_type="heaviside"), inputs()[:, 0])
    assert bool(((interface.reads.gates == 0) | (interface.reads.gates == 1)).all())
    steep = interface_of(build(gate_type="steep_sigmoid", gate_steepness=4.0), inputs()[:, 0])
    raw = build().layout.split(build().interface(inputs()[:, 0]))["read_gates"]
    torch.testing.assert_close(steep.reads.gates, torch.sigmoid(4 * raw))


def test_fixed_beta_and_gamma():
    learned = build()
    fixed = build(beta=7.0, gamma=2.5)
    assert fixed.layout.size == learned.layout.size - 2 * (SMALL["num_reads"] + SMALL["num_writes"])
    interface = interface_of(fixed, inputs()[:, 0])
    assert bool((interface.reads.strengths == 7.0).all()) and bool((interface.writes.sharpness == 2.5).all())
    interface = interface_of(learned, inputs()[:, 0])
    assert bool((interface.reads.sharpness >= 1).all()) and interface.reads.strengths.std() > 0


@pytest.mark.parametrize("scheme", ["xavier", "kaiming", "orthogonal", "normal", "torch"])
def test_initialization_schemes(scheme):
    torch.manual_seed(0)
    layer = NTM(**SMALL, initialization=scheme).interface
    weight, bias = layer.weight.detach(), layer.bias.detach()
    fan_out, fan_in = weight.shape
    if scheme == "xavier":
        assert 0.5 * math.sqrt(6 / (fan_in + fan_out)) < weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))
    elif scheme == "kaiming":
        assert math.sqrt(6 / (fan_in + fan_out)) < weight.abs().max() <= math.sqrt(3 / fan_in)
    elif scheme == "orthogonal":
        torch.testing.assert_close(weight.T @ weight, torch.eye(fan_in), atol=1e-5, rtol=0)
    elif scheme == "normal":
        assert 0.01 < float(weight.std()) < 0.03
    assert bool((bias == 0).all()) != (scheme == "torch")


def test_trace_records_and_changes_nothing():
    component = build()
    x = inputs()
    plain_y, _ = component(x)
    with engrammar.recording(component, traces=True) as record:
        y, state = component(x)
    torch.testing.assert_close(y, plain_y)
    trace = record.trace(component)
    assert trace["read_weights"].shape == (3, 4, 2, 6)
    assert trace["write_gates"].shape == (3, 4, 1)
    assert trace["read_shifts"].shape == (3, 4, 2, 3)
    torch.testing.assert_close(trace["read_weights"][:, -1], state["readers"]["weights"])
    torch.testing.assert_close(trace["memory"], state["memory"])
    # steps inside the same recording append; a new recording starts empty
    with engrammar.recording(component, traces=True) as record:
        _, state = component(x)
        component.step(x[:, 0], state)
    assert record.trace(component)["read_weights"].shape == (3, 5, 2, 6)
    assert not hasattr(component, "last_trace")


def test_specs_with_the_retired_trace_field_still_load():
    """Specs and checkpoints written when `trace` was a field load; asking for a trace warns."""
    component = engrammar.build({"use": "ntm", **SMALL, "trace": False})
    assert "trace" not in engrammar.unstructure(component.spec)
    component.load_state_dict(NTM(**SMALL).state_dict())  # the parameters did not change
    with pytest.warns(RetiredFieldWarning, match=r"^ntm\.trace: retired field, True ignored: record traces"):
        engrammar.build("ntm", **SMALL, trace=True)


def test_bad_values_name_the_field():
    with pytest.raises(SpecError, match="shift_range"):
        NTM(in_features=3, shift_range=-1)
    with pytest.raises(SpecError, match="gamma"):
        NTM(in_features=3, gamma=0.5)


# normalization, dropout and pass_through: core's ReadOut, checked as this memory applies it
TestNTMReadOut = read_out_tests("ntm", SMALL)
