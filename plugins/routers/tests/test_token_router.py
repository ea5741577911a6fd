"""token_router against a loop over tokens, heads and slots (values and gradients), the tutorial's
call, and use by registry name."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar_routers.token_router import TokenToStateRouter


def naive_route(router, tokens: torch.Tensor, states: torch.Tensor | None):
    """The definition, one token, head and slot at a time: routed (B, S, state_dim), weights (B, T, S)."""
    heads, slots, width = router.spec.num_heads, router.spec.num_states, router.spec.state_dim
    d = width // heads
    batch, length, _ = tokens.shape
    weights = torch.zeros(batch, length, slots, dtype=tokens.dtype)
    routed = torch.zeros(batch, slots, width, dtype=tokens.dtype)
    for b in range(batch):
        contents = router.slot_identity if states is None else states[b] + router.slot_identity
        for t in range(length):
            query = router.query.weight @ tokens[b, t] + router.query.bias
            for h in range(heads):
                part = slice(h * d, (h + 1) * d)
                scores = torch.stack([(router.key.weight @ contents[j])[part] @ query[part] for j in range(slots)])
                attention = torch.softmax(scores / math.sqrt(d), dim=0)
                for j in range(slots):
                    weights[b, t, j] = weights[b, t, j] + attention[j] / heads
                    routed[b, j, part] = routed[b, j, part] + attention[j] * query[part]
    return routed, weights


def build(**fields):
    torch.manual_seed(0)
    return engrammar.build("token_router", in_features=5, num_states=3, state_dim=6, num_heads=2, **fields).double()


def test_route_matches_the_loop_in_values_and_gradients() -> None:
    router = build()
    tokens = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    states = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    routed, weights = router.route(tokens, states)
    routed_ref, weights_ref = naive_route(router, tokens, states)
    torch.testing.assert_close(routed, routed_ref)
    torch.testing.assert_close(weights, weights_ref)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    probe = torch.randn_like(routed), torch.randn_like(weights)
    inputs = (tokens, states, *router.parameters())
    fast = torch.autograd.grad((routed * probe[0]).sum() + (weights * probe[1]).sum(), inputs)
    slow = torch.autograd.grad((routed_ref * probe[0]).sum() + (weights_ref * probe[1]).sum(), inputs)
    for got, want in zip(fast, slow, strict=True):
        torch.testing.assert_close(got, want)


def test_the_router_form_routes_by_the_slot_identities_alone() -> None:
    router = build()
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    weights, state = router(x)
    assert state == {} and weights.shape == (2, 4, 3)
    torch.testing.assert_close(weights, naive_route(router, x, None)[1])
    torch.testing.assert_close(weights, router.route(x, torch.zeros(2, 3, 6, dtype=torch.float64))[1])


def test_slot_contents_change_the_routing() -> None:
    router = build()
    tokens = torch.randn(1, 4, 5, dtype=torch.float64)
    states = torch.randn(1, 3, 6, dtype=torch.float64)
    _, before = router.route(tokens, states)
    _, after = router.route(tokens, states.flip(1))
    assert not torch.allclose(before, after)


def test_the_tutorial_call() -> None:
    # the PULSE tutorial: token_dim 64, state_dim 128, 8 states, 4 heads; 16 sequences of 20 tokens
    router = TokenToStateRouter(token_dim=64, state_dim=128, num_states=8, num_heads=4)
    tokens, states = torch.randn(16, 20, 64), torch.randn(16, 8, 128)
    with torch.no_grad():
        routed_tokens, routing_weights = router(tokens, states)
    assert routed_tokens.shape == (16, 8, 128) and routing_weights.shape == (16, 20, 8)
    assert 0.0 <= float(routing_weights.min()) and float(routing_weights.max()) <= 1.0
    torch.testing.assert_close(routing_weights.mean(), torch.tensor(1 / 8))  # each token's weights sum to 1
    assert type(router.router) is type(engrammar.build("token_router", in_features=2, num_states=2))


def test_another_plugin_builds_it_by_name_and_routes() -> None:
    router = engrammar.build("token_router", in_features=64, state_dim=128, num_states=8, num_heads=4)
    routed, weights = router.route(torch.randn(2, 7, 64), torch.randn(2, 8, 128))
    assert routed.shape == (2, 8, 128) and weights.shape == (2, 7, 8)
    assert router.out_features == 8


def test_route_names_bad_shapes() -> None:
    router = build()
    with pytest.raises(ValueError, match=r"tokens must be \(B, T, 5\), got \(2, 4, 4\)"):
        router.route(torch.randn(2, 4, 4), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match=r"states must be \(2, 3, 6\) \(B, S, state_dim\), got \(2, 4, 6\)"):
        router.route(torch.randn(2, 4, 5), torch.randn(2, 4, 6))


def test_heads_must_divide_the_state_width() -> None:
    with pytest.raises(engrammar.SpecError, match=r"^token_router\.num_heads: must divide state_dim \(6\)"):
        engrammar.build("token_router", in_features=2, num_states=2, state_dim=6, num_heads=4)
