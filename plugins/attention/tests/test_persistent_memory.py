"""persistent_memory against its explicit reference; its slots are parameters, not state."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar_attention.reference import persistent_reference


def _build(**fields: object):
    torch.manual_seed(0)
    spec = {"in_features": 3, "hidden_size": 5, "num_heads": 2, "head_dim": 4, "num_slots": 6, **fields}
    return engrammar.build("persistent_memory", **spec).double()


def test_outputs_and_gradients_equal_the_reference():
    model = _build()
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 7, 5, dtype=torch.float64)
    y, state = model(x)
    expected = persistent_reference(model, x)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)
    assert state == {}

    def grads(outputs):
        return torch.autograd.grad((outputs * weights).sum(), [x, *model.parameters()])

    for got, want in zip(grads(y), grads(expected)):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_slots_are_parameters_named_persistent_and_nothing_is_written_per_sample():
    model = _build()
    names = {name for name, _ in model.named_parameters()}
    assert {"persistent.keys", "persistent.values"} <= names
    assert model.persistent.keys.shape == (2, 6, 4) and model.state_spec() == {}
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    y, _ = model(x)
    y_step, _ = model.step(x[:, 3])
    torch.testing.assert_close(y_step, y[:, 3])  # each step reads the same slots, whatever came before
    resets = torch.ones(2, 5, dtype=torch.bool)
    torch.testing.assert_close(model(x, resets=resets)[0], y)


def test_a_single_slot_is_refused():
    """softmax over one slot is 1 whatever the query: the read would be a constant."""
    with pytest.raises(engrammar.SpecError, match="num_slots"):
        _build(num_slots=1)


def test_a_slot_change_changes_the_output():
    model = _build()
    x = torch.randn(1, 4, 3, dtype=torch.float64)
    y, _ = model(x)
    with torch.no_grad():
        model.persistent.values[0, 2] += 1.0
    assert not torch.allclose(model(x)[0], y)
