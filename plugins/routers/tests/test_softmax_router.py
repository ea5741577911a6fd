"""softmax_router by hand: the temperature, and its dense load-balancing and z-loss values."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar import SpecError, recording


def router(**fields) -> engrammar.Router:
    """Logits [x, -x] (one input feature, two experts), in float64."""
    built = engrammar.build("softmax_router", in_features=1, num_experts=2, **fields).double()
    with torch.no_grad():
        built.gate.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        built.gate.bias.zero_()
    return built


def test_weights_are_the_tempered_softmax() -> None:
    # logits [a, -a] with a = ln(3)/2: p_0 = 3/4; at tau = 0.5 the logits double: p_0 = 9/10
    a = math.log(3.0) / 2
    x = torch.full((1, 1, 1), a, dtype=torch.float64)
    torch.testing.assert_close(router()(x)[0][0, 0], torch.tensor([0.75, 0.25], dtype=torch.float64))
    torch.testing.assert_close(router(temperature=0.5)(x)[0][0, 0], torch.tensor([0.9, 0.1], dtype=torch.float64))
    y_t, _ = router(temperature=0.5).step(x[:, 0])
    torch.testing.assert_close(y_t[0], torch.tensor([0.9, 0.1], dtype=torch.float64))


def test_dense_load_balance_and_z_loss_match_the_hand_computation() -> None:
    # p = [3/4, 1/4] and [1/4, 3/4]: P = f = [1/2, 1/2]; loss = w * 2 * (1/4 + 1/4) = w
    # then p = [3/4, 1/4] twice: P = f = [3/4, 1/4]; loss = w * 2 * (9/16 + 1/16) = 1.25 w
    a = math.log(3.0) / 2
    balanced = torch.tensor([[[a], [-a]]], dtype=torch.float64)
    skewed = torch.tensor([[[a], [a]]], dtype=torch.float64)
    built = router(balance_weight=0.2, z_loss_weight=0.5)
    with recording(built) as record:
        built(balanced)
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(0.2, dtype=torch.float64))
    # z-loss: logsumexp[a, -a] = ln 4 - a for every token
    torch.testing.assert_close(
        record.losses["z_loss"], torch.tensor(0.5 * (math.log(4.0) - a) ** 2, dtype=torch.float64)
    )
    with recording(built) as record:
        built(skewed)
    torch.testing.assert_close(record.losses["load_balance"], torch.tensor(0.25, dtype=torch.float64))
    record.losses["load_balance"].backward()  # f is held constant: the gradient goes through P only
    assert built.gate.bias.grad[0] > 0 > built.gate.bias.grad[1]


def test_a_zero_temperature_is_refused() -> None:
    with pytest.raises(SpecError, match=r"^softmax_router\.temperature: must be > 0\.0, got 0\.0$"):
        engrammar.build("softmax_router", in_features=2, num_experts=2, temperature=0.0)
