"""The attention ops against the naive oracle, in values and gradients, and the visibility rule
against its definition written as a loop."""

from __future__ import annotations

import pytest
import torch
from engrammar_attention.ops import (
    full_attention,
    naive_attention,
    segments,
    sliding_window_attention,
)

WINDOW = 5
TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-5}


def make_inputs(batch, heads, length, cache, dtype, *, seed=0, slots=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    q, k, v = (
        randn(batch, heads, length, 4),
        randn(batch, heads, cache + length, 4),
        randn(batch, heads, cache + length, 3),
    )
    persistent = (
        {"persistent_keys": randn(heads, slots, 4), "persistent_values": randn(heads, slots, 3)} if slots else {}
    )
    return q, k, v, persistent


def make_visibility(batch, length, cache, use_resets, *, seed=0):
    gen = torch.Generator().manual_seed(seed + 1)
    position = torch.randint(0, 2 * cache + 2, (batch,), generator=gen)
    position[0] = 0  # a sample with an empty cache
    resets = None
    if use_resets:
        resets = torch.rand(batch, length, generator=gen) < 0.2
        resets[0, 0] = True
        resets[-1, length // 2] = True
    return position, resets


def test_segments_follow_their_definition():
    """first_visible and positions, written as a loop over samples and steps."""
    gen = torch.Generator().manual_seed(3)
    for cache, length in [(0, 7), (4, 9), (6, 1)]:
        position = torch.randint(0, 9, (3,), generator=gen)
        resets = torch.rand(3, length, generator=gen) < 0.3
        first_visible, positions = segments(position, cache, length, resets)
        for b in range(3):
            start, count = cache - min(int(position[b]), cache), int(position[b])
            for t in range(length):
                if resets[b, t]:
                    start, count = cache + t, 0
                assert int(first_visible[b, t]) == start
                assert int(positions[b, t]) == count
                count += 1


CASES = [
    pytest.param(length, cache, use_resets, slots, id=f"T{length}-S{cache}-resets{use_resets}-P{slots}")
    for length in (1, WINDOW - 1, WINDOW, 3 * WINDOW + 2)
    for cache in (0, WINDOW - 1, WINDOW + 3)
    for use_resets in (False, True)
    for slots in (0, 2)
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("length", "cache", "use_resets", "slots"), CASES)
def test_fast_paths_match_oracle_in_values(dtype, length, cache, use_resets, slots):
    q, k, v, persistent = make_inputs(2, 3, length, cache, dtype, slots=slots)
    position, resets = make_visibility(2, length, cache, use_resets)
    first_visible, _ = segments(position, cache, length, resets)
    tol = TOLERANCE[dtype]
    for span in (None, WINDOW, 1):
        expected = naive_attention(q, k, v, first_visible, span, **persistent)
        assert expected.shape == (2, 3, length, 3)
        assert (full_attention(q, k, v, first_visible, span, **persistent) - expected).abs().max() < tol
    expected = naive_attention(q, k, v, first_visible, WINDOW, **persistent)
    blocked = sliding_window_attention(q, k, v, first_visible, WINDOW, **persistent)
    assert (blocked - expected).abs().max() < tol


@pytest.mark.parametrize(("length", "cache", "use_resets", "slots"), CASES)
def test_fast_paths_match_oracle_in_gradients(length, cache, use_resets, slots):
    q, k, v, persistent = make_inputs(2, 2, length, cache, torch.float64, seed=5, slots=slots)
    inputs = [q, k, v, *persistent.values()]
    for tensor in inputs:
        tensor.requires_grad_(True)
    position, resets = make_visibility(2, length, cache, use_resets, seed=5)
    first_visible, _ = segments(position, cache, length, resets)
    weights = torch.randn(2, 2, length, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)

    def grads(op, span):
        out = op(q, k, v, first_visible, span, **persistent)
        return torch.autograd.grad((out * weights).sum(), inputs)

    for span in (None, WINDOW):
        for got, want in zip(grads(full_attention, span), grads(naive_attention, span)):
            assert (got - want).abs().max() < 1e-12
    for got, want in zip(grads(sliding_window_attention, WINDOW), grads(naive_attention, WINDOW)):
        assert (got - want).abs().max() < 1e-12


def test_oracle_attends_to_what_the_mask_allows_only():
    """Changing a key the query may not see changes nothing; changing one it sees changes the output."""
    q, k, v, _ = make_inputs(1, 1, 4, 3, torch.float64)
    first_visible = torch.tensor([[1, 1, 1, 5]])  # queries sit at keys 3..6; the last one after a reset
    base = naive_attention(q, k, v, first_visible, WINDOW)
    hidden = v.clone()
    hidden[:, :, 0] += 1.0  # slot 0 is older than every segment start
    hidden[:, :, 4] += 1.0  # key 4: after query 0, before the last query's reset
    changed = naive_attention(q, k, hidden, first_visible, WINDOW)
    torch.testing.assert_close(changed[:, :, 0], base[:, :, 0])
    torch.testing.assert_close(changed[:, :, 3], base[:, :, 3])
    assert not torch.allclose(changed[:, :, 1], base[:, :, 1])  # query 1 is key 4
    assert not torch.allclose(changed[:, :, 2], base[:, :, 2])


def test_sliding_window_is_local():
    """Keys outside the window of a query do not reach it in the blocked form."""
    q, k, v, _ = make_inputs(1, 2, 20, WINDOW - 1, torch.float64)
    first_visible = torch.zeros(1, 20, dtype=torch.long)
    base = sliding_window_attention(q, k, v, first_visible, WINDOW)
    changed_v = v.clone()
    changed_v[:, :, 10] += 1.0  # key 10 is token 10 - (WINDOW - 1) = 6
    changed = sliding_window_attention(q, k, changed_v, first_visible, WINDOW)
    differs = (changed - base).abs().amax(dim=(0, 1, 3)) > 0
    assert differs.nonzero().flatten().tolist() == list(range(6, 6 + WINDOW))
