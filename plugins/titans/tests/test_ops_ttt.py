"""TTT's inner loop: the step recurrence and the chunked dual form against the naive oracle
(``torch.func`` per token), in values and gradients, for linear and MLP inner models, several
mini-batch sizes, resets, and states that enter mid-mini-batch."""

from __future__ import annotations

import pytest
import torch
from engrammar.state import flatten_state
from engrammar_titans.ops import InnerModel, chunk_ttt, naive_ttt, recurrent_ttt

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
HEADS, WIDTH = 2, 3
PATHS = {"recurrent": recurrent_ttt, "chunk": chunk_ttt}


def make_inputs(batch, length, chunk_size, *, hidden=None, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    widths = (WIDTH, WIDTH) if hidden is None else (WIDTH, hidden, WIDTH)
    model = InnerModel(widths, bias=True, residual_norm=True, loss_scale=0.5)
    initial = {name: 0.5 * randn(HEADS, *shape) for name, shape in model.shapes().items()}
    norm = (1.0 + 0.3 * randn(HEADS, WIDTH), 0.3 * randn(HEADS, WIDTH))
    token_scale = (1.0 / torch.arange(1, chunk_size + 1, dtype=dtype) + 0.1 * randn(chunk_size)).clamp_min(0.0)
    q, k, v = randn(batch, length, HEADS, WIDTH), randn(batch, length, HEADS, WIDTH), randn(batch, length, HEADS, WIDTH)
    lr = 0.5 * torch.sigmoid(randn(batch, length, HEADS))
    return model, {"initial_weights": initial, "norm": norm, "token_scale": token_scale}, (q, k, v, lr)


def make_resets(batch, length, chunk_size, *, seed=0):
    gen = torch.Generator().manual_seed(seed + 1)
    resets = torch.rand(batch, length, generator=gen) < 0.2
    resets[0, 0] = True
    if length > chunk_size + 1:
        resets[0, chunk_size] = True
        resets[-1, chunk_size + 1] = True
    return resets


def max_abs(a, b):
    return (a - b).abs().max().item() if a.numel() else 0.0


def assert_states_close(got, expected, tol, what=""):
    flat_got, flat_expected = flatten_state(got), flatten_state(expected)
    assert flat_got.keys() == flat_expected.keys(), what
    for key in flat_expected:
        if flat_expected[key].is_floating_point():
            assert max_abs(flat_got[key], flat_expected[key]) < tol, f"{what} {key}"
        else:
            assert torch.equal(flat_got[key], flat_expected[key]), f"{what} {key}"


CASES = [
    pytest.param(chunk, length, hidden, id=f"b{chunk}-T{length}-{'mlp' if hidden else 'linear'}")
    for chunk, length in [(1, 5), (3, 1), (3, 10), (4, 13)]
    for hidden in (None, 5)
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("chunk_size", "length", "hidden"), CASES)
def test_paths_match_oracle_in_values(dtype, chunk_size, length, hidden):
    model, fixed, inputs = make_inputs(3, length, chunk_size, hidden=hidden, dtype=dtype)
    for resets in (None, make_resets(3, length, chunk_size)):
        kwargs = dict(model=model, chunk_size=chunk_size, resets=resets, **fixed)
        y_ref, state_ref = naive_ttt(*inputs, **kwargs)
        assert y_ref.shape == (3, length, HEADS, WIDTH)
        for name, path in PATHS.items():
            y, state = path(*inputs, **kwargs)
            assert max_abs(y, y_ref) < TOLERANCE[dtype], name
            assert_states_close(state, state_ref, TOLERANCE[dtype], name)


@pytest.mark.parametrize(("chunk_size", "length", "hidden"), CASES)
def test_paths_match_oracle_in_gradients(chunk_size, length, hidden):
    """Gradients with respect to q, k, v, η, the initial weights, γ, β, the token scale and a warm
    incoming state two tokens in (mid-mini-batch for b > 2)."""
    model, fixed, inputs = make_inputs(2, length + 2, chunk_size, hidden=hidden, seed=3)
    resets = make_resets(2, length, chunk_size, seed=3)
    with torch.no_grad():
        _, warm = naive_ttt(*[x[:, :2] for x in inputs], model=model, chunk_size=chunk_size, **fixed)
    leaves = [x.clone().requires_grad_() for x in inputs]
    weights = {name: w.clone().requires_grad_() for name, w in fixed["initial_weights"].items()}
    norm = tuple(t.clone().requires_grad_() for t in fixed["norm"])
    scale = fixed["token_scale"].clone().requires_grad_()
    warm_leaves = {key: t.clone().requires_grad_() for key, t in flatten_state(warm).items() if t.is_floating_point()}
    everything = leaves + list(weights.values()) + list(norm) + [scale] + list(warm_leaves.values())
    out_weight = torch.randn(2, length, HEADS, WIDTH, generator=torch.Generator().manual_seed(7), dtype=torch.float64)

    def grads(path):
        state = {
            key: {name: warm_leaves[f"{key}.{name}"] for name in value} if isinstance(value, dict) else value
            for key, value in warm.items()
        }
        y, final = path(
            *[x[:, 2:] for x in leaves],
            model=model,
            initial_weights=weights,
            norm=norm,
            token_scale=scale,
            state=state,
            resets=resets,
            chunk_size=chunk_size,
        )
        loss = (y * out_weight).sum()
        for tensor in flatten_state(final).values():
            if tensor.is_floating_point():
                loss = loss + tensor.sin().sum()
        return torch.autograd.grad(loss, everything, allow_unused=True)

    reference = grads(naive_ttt)
    for name, path in PATHS.items():
        for index, (ref, got) in enumerate(zip(reference, grads(path))):
            if ref is None:
                assert got is None or got.abs().max() == 0, (name, index)
            else:
                assert got is not None and max_abs(got, ref) < 1e-9, (name, index)


@pytest.mark.parametrize("chunk_size", [1, 4])
def test_one_call_equals_two_calls_split_anywhere(chunk_size):
    model, fixed, inputs = make_inputs(2, 11, chunk_size, hidden=5, seed=5)
    kwargs = dict(model=model, chunk_size=chunk_size, **fixed)
    y, final = chunk_ttt(*inputs, **kwargs)
    for split in (1, 3, 6):
        y1, middle = chunk_ttt(*[x[:, :split] for x in inputs], **kwargs)
        y2, final2 = chunk_ttt(*[x[:, split:] for x in inputs], state=middle, **kwargs)
        assert max_abs(torch.cat([y1, y2], 1), y) < 1e-12
        assert_states_close(final2, final, 1e-12, f"split {split}")


def test_linear_dual_form_is_the_closed_form():
    """For TTT-Linear the mini-batch read is q W₀ + b₀ − (e ⊙ tril(η ⊙ (q kᵀ + 1))) δ before the
    layer norm and the residual (the TTT paper's dual form), with δ = ∂ℓ/∂z at W₀ — written out here."""
    model, fixed, inputs = make_inputs(1, 4, 4, seed=6)
    q, k, v, lr = inputs
    weights, (gamma, beta), scale = fixed["initial_weights"], fixed["norm"], fixed["token_scale"]
    y, _ = chunk_ttt(*inputs, model=model, chunk_size=4, **fixed)

    def layer_norm(z):
        centered = z - z.mean(-1, keepdim=True)
        return centered / (centered.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt() * gamma[:, None] + beta[:, None]

    qh, kh, vh = (x[0].transpose(0, 1) for x in (q, k, v))  # (H, 4, d)
    eta = lr[0].transpose(0, 1)  # (H, 4)
    z_keys = kh @ weights["w1"] + weights["b1"][:, None]
    z_keys = z_keys.detach().requires_grad_()
    loss = 0.5 * (kh + layer_norm(z_keys) - vh).pow(2).sum()
    (delta,) = torch.autograd.grad(loss, z_keys)
    mix = torch.tril(scale[:, None] * eta[:, None, :] * (qh @ kh.transpose(-1, -2) + 1.0))
    z = qh @ weights["w1"] + weights["b1"][:, None] - mix @ delta
    expected = qh + layer_norm(z)
    assert max_abs(y[0].transpose(0, 1), expected) < 1e-12


def test_reset_inside_a_mini_batch_is_a_fresh_start():
    model, fixed, inputs = make_inputs(1, 14, 4, hidden=5, seed=2)
    resets = torch.zeros(1, 14, dtype=torch.bool)
    resets[0, 6] = True
    y, final = chunk_ttt(*inputs, model=model, chunk_size=4, resets=resets, **fixed)
    y_fresh, final_fresh = chunk_ttt(*[x[:, 6:] for x in inputs], model=model, chunk_size=4, **fixed)
    assert max_abs(y[:, 6:], y_fresh) < 1e-12
    assert_states_close(final, final_fresh, 1e-12)
    y_carried, _ = chunk_ttt(*inputs, model=model, chunk_size=4, **fixed)
    assert max_abs(y_carried[:, 6:], y_fresh) > 1e-3


def test_inputs_and_state_are_not_modified():
    model, fixed, inputs = make_inputs(2, 9, 4, hidden=5, seed=10)
    _, warm = chunk_ttt(*[x[:, :2] for x in inputs], model=model, chunk_size=4, **fixed)
    copies = [x.clone() for x in inputs]
    warm_copy = {key: t.clone() for key, t in flatten_state(warm).items()}
    resets = make_resets(2, 9, 4)
    for path in (chunk_ttt, recurrent_ttt):
        path(*inputs, model=model, chunk_size=4, state=warm, resets=resets, **fixed)
    for before, after in zip(copies, inputs):
        assert torch.equal(before, after)
    for key, tensor in flatten_state(warm).items():
        assert torch.equal(warm_copy[key], tensor), key
