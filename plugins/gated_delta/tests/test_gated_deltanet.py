"""``gated_deltanet``: chunked and recurrent modes agree (resets included); the short convolution; gates."""

from __future__ import annotations

import pytest
import torch
from engrammar_gated_delta import GatedDeltaNet
from engrammar_gated_delta.short_conv import ShortConvolution


def pair(**spec):
    torch.manual_seed(0)
    chunked = GatedDeltaNet(mode="chunk", **spec).double()
    recurrent = GatedDeltaNet(mode="recurrent", **spec).double()
    recurrent.load_state_dict(chunked.state_dict())
    return chunked, recurrent


@pytest.mark.parametrize("conv", [False, True])
def test_chunked_and_recurrent_modes_agree_in_values_and_gradients(conv):
    chunked, recurrent = pair(in_features=5, hidden_size=6, num_heads=2, head_dim=4, chunk_size=4, use_short_conv=conv)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 19, 5, generator=gen, dtype=torch.float64)
    resets = torch.rand(2, 19, generator=gen) < 0.15
    resets[0, 8] = True  # on a chunk boundary
    with torch.no_grad():
        _, start = chunked(torch.randn(2, 3, 5, generator=gen, dtype=torch.float64))
    weights = torch.randn(2, 19, 6, generator=gen, dtype=torch.float64)
    results = []
    for model in (chunked, recurrent):
        xs = x.clone().requires_grad_()
        y, state = model(xs, start, resets)
        grads = torch.autograd.grad((y * weights).sum() + state["memory"].sum(), [xs, *model.parameters()])
        results.append((y, state, grads))
    (y_c, s_c, g_c), (y_r, s_r, g_r) = results
    assert (y_c - y_r).abs().max() < 1e-10
    for key in s_c:
        assert (s_c[key] - s_r[key]).abs().max() < 1e-10
    for a, b in zip(g_c, g_r):
        assert (a - b).abs().max() < 1e-9


def test_short_convolution_forgets_inputs_before_a_reset():
    torch.manual_seed(0)
    conv = ShortConvolution(channels=3, size=4).double()
    x = torch.randn(1, 10, 3, dtype=torch.float64)
    cache = torch.randn(1, 3, 3, dtype=torch.float64)
    resets = torch.zeros(1, 10, dtype=torch.bool)
    resets[0, 6] = True
    y, new_cache = conv(x, cache, resets)
    y_fresh, cache_fresh = conv(x[:, 6:], torch.zeros_like(cache))
    assert torch.allclose(y[:, 6:], y_fresh) and torch.allclose(new_cache, cache_fresh)
    y_plain, _ = conv(x, cache)
    assert (y_plain[:, 6:] - y_fresh).abs().max() > 1e-3  # without the reset the window sees the past
    steps, state = [], cache
    for t in range(10):
        y_t, state = conv.step(x[:, t], state)
        steps.append(y_t)
    assert torch.allclose(torch.stack(steps, 1), y_plain)


def test_decay_is_at_most_one_and_keys_are_unit_length():
    torch.manual_seed(0)
    model = GatedDeltaNet(in_features=4, num_heads=2, head_dim=3)
    x = torch.randn(2, 7, 4) * 10
    q, k, _, g, beta = model._gates(x, model.qkv_proj(x))
    assert bool((g <= 0).all()) and bool(((beta >= 0) & (beta <= 1)).all())  # sigmoid may round to 1 in float32
    assert torch.allclose(k.norm(dim=-1), torch.ones(2, 7, 2)) and torch.allclose(q.norm(dim=-1), torch.ones(2, 7, 2))
