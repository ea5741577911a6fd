"""The chunked and step recurrences of the gated delta rule against the naive oracle."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from engrammar_gated_delta.ops import (
    chunk_gated_delta_rule,
    naive_gated_delta_rule,
    recurrent_gated_delta_rule,
)

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
CHUNK = 8


def make_inputs(batch, length, heads, key_dim, value_dim, dtype, *, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    q = randn(batch, length, heads, key_dim)
    k = F.normalize(randn(batch, length, heads, key_dim), dim=-1)
    v = randn(batch, length, heads, value_dim)
    g = F.logsigmoid(randn(batch, length, heads) + 2.0)  # log decay <= 0
    beta = torch.sigmoid(randn(batch, length, heads))
    initial_state = randn(batch, heads, key_dim, value_dim)
    return q, k, v, g, beta, initial_state


def make_resets(batch, length, *, seed=0):
    gen = torch.Generator().manual_seed(seed + 1)
    resets = torch.rand(batch, length, generator=gen) < 0.15
    # always exercise a reset on a chunk boundary, one just after, and one at the very start
    resets[0, 0] = True
    if length > CHUNK + 1:
        resets[0, CHUNK] = True
        resets[-1, CHUNK + 1] = True
    return resets


def max_abs(a, b):
    return (a - b).abs().max().item()


CASES = [
    pytest.param(length, use_initial, use_resets, id=f"T{length}-init{use_initial}-resets{use_resets}")
    for length in (1, CHUNK, 3 * CHUNK, 3 * CHUNK + 5)
    for use_initial in (False, True)
    for use_resets in (False, True)
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("length", "use_initial", "use_resets"), CASES)
def test_fast_paths_match_oracle_in_values(dtype, length, use_initial, use_resets):
    q, k, v, g, beta, s0 = make_inputs(2, length, 3, 6, 5, dtype)
    kwargs = {
        "initial_state": s0 if use_initial else None,
        "resets": make_resets(2, length) if use_resets else None,
    }
    o_ref, s_ref = naive_gated_delta_rule(q, k, v, g, beta, **kwargs)
    o_rec, s_rec = recurrent_gated_delta_rule(q, k, v, g, beta, **kwargs)
    o_chk, s_chk = chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=CHUNK, **kwargs)
    tol = TOLERANCE[dtype]
    assert o_chk.shape == o_ref.shape == (2, length, 3, 5)
    assert s_chk.shape == s_ref.shape == (2, 3, 6, 5)
    assert max_abs(o_rec, o_ref) < tol and max_abs(s_rec, s_ref) < tol
    assert max_abs(o_chk, o_ref) < tol and max_abs(s_chk, s_ref) < tol


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("length", "use_initial", "use_resets"), CASES)
def test_fast_paths_match_oracle_in_gradients(dtype, length, use_initial, use_resets):
    inputs = [x.requires_grad_() for x in make_inputs(2, length, 2, 4, 3, dtype, seed=3)]
    q, k, v, g, beta, s0 = inputs
    resets = make_resets(2, length, seed=3) if use_resets else None
    initial = s0 if use_initial else None
    gen = torch.Generator().manual_seed(7)
    out_weight = torch.randn(2, length, 2, 3, generator=gen, dtype=dtype)
    state_weight = torch.randn(2, 2, 4, 3, generator=gen, dtype=dtype)

    def grads(fn, **extra):
        o, s = fn(q, k, v, g, beta, initial_state=initial, resets=resets, **extra)
        loss = (o * out_weight).sum() + (s * state_weight).sum()
        return torch.autograd.grad(loss, inputs, allow_unused=True)

    reference = grads(naive_gated_delta_rule)
    tol = TOLERANCE[dtype]
    for fast in (grads(recurrent_gated_delta_rule), grads(chunk_gated_delta_rule, chunk_size=CHUNK)):
        for name, ref, got in zip("q k v g beta initial_state".split(), reference, fast):
            if ref is None:
                assert got is None or got.abs().max() == 0, name
                continue
            assert max_abs(got, ref) < tol, name


def test_reset_is_a_fresh_start_inside_a_chunk():
    q, k, v, g, beta, s0 = make_inputs(1, 20, 2, 4, 3, torch.float64)
    resets = torch.zeros(1, 20, dtype=torch.bool)
    resets[0, 11] = True  # inside the second chunk of 8
    o, s = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=s0, resets=resets, chunk_size=CHUNK)
    o_fresh, s_fresh = chunk_gated_delta_rule(
        q[:, 11:], k[:, 11:], v[:, 11:], g[:, 11:], beta[:, 11:], chunk_size=CHUNK
    )
    assert max_abs(o[:, 11:], o_fresh) < 1e-12
    assert max_abs(s, s_fresh) < 1e-12
    # and the reset really changed something: without it the outputs differ
    o_carried, _ = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=s0, chunk_size=CHUNK)
    assert max_abs(o_carried[:, 11:], o_fresh) > 1e-3


def test_scale_defaults_to_inverse_sqrt_key_dim():
    q, k, v, g, beta, _ = make_inputs(1, 10, 1, 16, 2, torch.float64)
    default, _ = chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=4)
    explicit, _ = chunk_gated_delta_rule(q, k, v, g, beta, scale=0.25, chunk_size=4)
    other, _ = chunk_gated_delta_rule(q, k, v, g, beta, scale=1.0, chunk_size=4)
    assert max_abs(default, explicit) < 1e-14
    assert max_abs(default, other) > 1e-3


def test_strong_decay_keeps_gradients_finite():
    q, k, v, g, beta, s0 = make_inputs(1, 24, 2, 4, 3, torch.float32)
    g = (g * 200).requires_grad_()  # cumulative log decays far below exp's range
    o, s = chunk_gated_delta_rule(q, k, v, g, beta, initial_state=s0, chunk_size=CHUNK)
    (o.sum() + s.sum()).backward()
    assert torch.isfinite(o).all() and torch.isfinite(g.grad).all()
    o_ref, _ = naive_gated_delta_rule(q, k, v, g.detach(), beta, initial_state=s0)
    assert max_abs(o, o_ref) < 1e-4


def test_inputs_are_not_modified():
    inputs = make_inputs(2, 13, 2, 4, 3, torch.float64)
    copies = [x.clone() for x in inputs]
    resets = make_resets(2, 13)
    chunk_gated_delta_rule(*inputs[:5], initial_state=inputs[5], resets=resets, chunk_size=CHUNK)
    recurrent_gated_delta_rule(*inputs[:5], initial_state=inputs[5], resets=resets)
    for before, after in zip(copies, inputs):
        assert torch.equal(before, after)


@pytest.mark.parametrize("length", [128, 150])
def test_default_chunk_size_matches_oracle_in_float32(length):
    """At the default chunk of 64 and realistic widths: values and gradients within 1e-4."""
    inputs = [x.requires_grad_() for x in make_inputs(2, length, 2, 16, 16, torch.float32, seed=5)]
    q, k, v, g, beta, s0 = inputs
    resets = make_resets(2, length, seed=5)
    resets[1, 64] = True  # on a chunk boundary of the default size
    weights = torch.randn(2, length, 2, 16, generator=torch.Generator().manual_seed(9))

    def run(fn, **extra):
        o, s = fn(q, k, v, g, beta, initial_state=s0, resets=resets, **extra)
        grads = torch.autograd.grad((o * weights).sum() + s.sum(), inputs)
        return o, s, grads

    o_ref, s_ref, g_ref = run(naive_gated_delta_rule)
    o, s, grads = run(chunk_gated_delta_rule)
    assert max_abs(o, o_ref) < 1e-4 and max_abs(s, s_ref) < 1e-4
    for ref, got in zip(g_ref, grads):
        assert max_abs(got, ref) < 1e-4
