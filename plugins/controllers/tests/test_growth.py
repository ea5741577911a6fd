"""lstm, gru and mlp grow (the growth protocol of engrammar.nn.growth): the grown controller computes
what it computed before on its old units, the new units start silent (zero incoming weights) and
still learn (random outgoing weights), a carried state widens, and a wiring around a grown
controller rebuilds from its saved spec."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.nn.growth import grow_node

RECURRENT = [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(7)


@pytest.mark.parametrize(("name", "num_layers"), RECURRENT)
def test_a_grown_recurrent_controller_keeps_its_function_and_state(name: str, num_layers: int) -> None:
    torch.manual_seed(0)
    model = engrammar.build(name, in_features=3, hidden_size=4, num_layers=num_layers).double()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    _, state = model(x[:, :3])
    growth = model.grow(3, generator=_generator(), outgoing_std=0.3)
    grown = growth.component
    assert grown.spec.hidden_size == 7 and model.spec.hidden_size == 4  # the original is left as it was
    assert torch.equal(growth.output_positions, torch.arange(4))
    wide_state = growth.widen_state(state)
    assert all(v.shape == (2, num_layers, 7) for v in wide_state.values())
    y_old, state_old = model(x[:, 3:], state)
    y_new, state_new = grown(x[:, 3:], wide_state)
    torch.testing.assert_close(y_new[..., :4], y_old, rtol=0, atol=1e-12)
    assert torch.all(y_new[..., 4:] == 0)  # new units are silent until trained
    y_step, _ = grown.step(x[:, 3], wide_state)
    torch.testing.assert_close(y_step, y_new[:, 0])
    for key in state_old:
        torch.testing.assert_close(state_new[key][..., :4], state_old[key], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("name", "num_layers"), RECURRENT)
def test_new_recurrent_units_have_zero_incoming_and_random_outgoing_weights(name: str, num_layers: int) -> None:
    model = engrammar.build(name, in_features=3, hidden_size=4, num_layers=num_layers)
    grown = model.grow(2, generator=_generator(), outgoing_std=0.3).component
    gates = 4 if name == "lstm" else 3
    new_rows = torch.tensor([g * 6 + u for g in range(gates) for u in (4, 5)])
    old_rows = torch.tensor([g * 6 + u for g in range(gates) for u in range(4)])
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = grown.layer_weights(layer)
        for tensor in (w_ih, w_hh, b_ih, b_hh):
            assert torch.all(tensor.detach()[new_rows] == 0)
        assert torch.all(w_hh.detach()[old_rows][:, 4:] != 0)
        if layer > 0:
            assert torch.all(w_ih.detach()[old_rows][:, 4:] != 0)
    y, _ = grown(torch.randn(3, 6, 3))
    (y * torch.randn_like(y)).sum().backward()
    assert grown.layer_weights(0)[0].grad[new_rows].abs().sum() > 0  # they learn


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu", "silu"])
@pytest.mark.parametrize("out_features", [None, 5])
def test_a_grown_mlp_keeps_its_function(activation: str, out_features: int | None) -> None:
    torch.manual_seed(0)
    model = engrammar.build(
        "mlp", in_features=3, hidden_size=4, num_layers=2, activation=activation, out_features=out_features
    ).double()
    growth = model.grow(3, generator=_generator(), outgoing_std=0.3)
    grown = growth.component
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    y_old, _ = model(x)
    y_new, _ = grown(x)
    if out_features is None:
        assert torch.equal(growth.output_positions, torch.arange(4))
        torch.testing.assert_close(y_new[..., :4], y_old, rtol=0, atol=1e-12)
        assert torch.all(y_new[..., 4:] == 0) or activation in ("relu", "sigmoid")
    else:
        assert growth.output_positions is None
        torch.testing.assert_close(y_new, y_old, rtol=0, atol=1e-12)
        assert grown.net[-1].bias is model.net[-1].bias  # unchanged shape: the same parameter
    (y_new * torch.randn_like(y_new)).sum().backward()
    silent = activation not in ("relu", "sigmoid")
    learns = grown.net[0].weight.grad[4:] if silent else grown.net[4].weight.grad[:, 4:]
    assert learns.abs().sum() > 0  # the new units learn (relu, sigmoid: from their outgoing weights on)
    incoming = grown.net[0].weight.detach()[4:]
    assert torch.all(incoming == 0) if silent else torch.all(incoming != 0)
    assert growth.silent == silent


def test_a_normalized_mlp_grows_with_unit_scales_for_new_units() -> None:
    model = engrammar.build("mlp", in_features=3, hidden_size=4, num_layers=1, normalization="layer")
    grown = model.grow(2, generator=_generator()).component
    assert grown.net[1].weight.detach()[4:].tolist() == [1.0, 1.0]
    assert grown.net[1].bias.detach()[4:].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(("name", "fields"), [("lstm", {}), ("gru", {}), ("mlp", {}), ("mlp", {"activation": "tanh"})])
def test_a_wiring_around_a_grown_controller_keeps_its_function_and_rebuilds(name: str, fields: dict) -> None:
    torch.manual_seed(0)
    wiring = {
        "name": "grows",
        "in_features": 3,
        "nodes": {
            "ctrl": {"use": name, "hidden_size": 5, "in": ["x", "head@-1"], **fields},
            "head": {"use": "linear", "out_features": 2, "in": "ctrl"},
        },
        "out": "head",
    }
    net = engrammar.build(wiring)
    x = torch.randn(2, 9, 3)
    _, state = net(x[:, :4])
    y_before, _ = net(x[:, 4:], state)
    growth = grow_node(net, "ctrl", 2, generator=_generator(), outgoing_std=0.2)
    y_after, _ = net(x[:, 4:], growth.widen_state(state))
    torch.testing.assert_close(y_after, y_before, rtol=0, atol=1e-6)
    rebuilt = engrammar.build(engrammar.unstructure(net.spec))
    rebuilt.load_state_dict(net.state_dict())
    assert rebuilt.nodes["ctrl"].spec.hidden_size == 7
    assert torch.equal(rebuilt(x)[0], net(x)[0])
