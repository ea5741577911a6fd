"""Titans' long-term memory: the step recurrence and the chunked form against the naive oracle
(``torch.func`` per token), in values and gradients, for several chunk sizes, with resets, with
states that enter mid-chunk, and with samples at different positions in one batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from engrammar.state import flatten_state
from engrammar_titans.ops import (
    InnerModel,
    chunk_neural_memory,
    naive_neural_memory,
    recurrent_neural_memory,
    reset_state,
)
from engrammar_titans.ops.inner_model import select

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
HEADS, WIDTH = 2, 3
PATHS = {"recurrent": recurrent_neural_memory, "chunk": chunk_neural_memory}


def make_inputs(batch, length, *, depth=2, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    widths = (WIDTH, *[4] * (depth - 1), WIDTH)
    model = InnerModel(widths)
    initial = {name: 0.5 * randn(HEADS, *shape) for name, shape in model.shapes().items()}
    q = randn(batch, length, HEADS, WIDTH)
    k = F.normalize(randn(batch, length, HEADS, WIDTH), dim=-1)
    v = randn(batch, length, HEADS, WIDTH)
    lr = 0.2 * torch.sigmoid(randn(batch, length, HEADS))
    log_momentum = F.logsigmoid(randn(batch, length, HEADS))
    log_retention = F.logsigmoid(randn(batch, length, HEADS) + 3.0)
    return model, initial, (q, k, v, lr, log_momentum, log_retention)


def make_resets(batch, length, chunk_size, *, seed=0):
    gen = torch.Generator().manual_seed(seed + 1)
    resets = torch.rand(batch, length, generator=gen) < 0.2
    resets[0, 0] = True
    if length > chunk_size + 1:
        resets[0, chunk_size] = True  # on a chunk boundary
        resets[-1, chunk_size + 1] = True  # just after one: inside a chunk
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


def variant(inputs, momentum, retention):
    q, k, v, lr, log_momentum, log_retention = inputs
    return q, k, v, lr, log_momentum if momentum else None, log_retention if retention else None


CASES = [
    pytest.param(chunk, length, depth, before, momentum, retention, id=f"C{chunk}-T{length}-L{depth}-{tag}")
    for chunk, length in [(1, 6), (3, 1), (3, 3), (3, 10), (4, 13)]
    for depth in (1, 2)
    for before, momentum, retention, tag in [
        (False, True, True, "after"),
        (True, True, True, "before"),
        (False, False, True, "nomomentum"),
        (False, True, False, "noforgetting"),
    ]
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("chunk_size", "length", "depth", "before", "momentum", "retention"), CASES)
def test_paths_match_oracle_in_values(dtype, chunk_size, length, depth, before, momentum, retention):
    model, initial, inputs = make_inputs(3, length, depth=depth, dtype=dtype)
    inputs = variant(inputs, momentum, retention)
    for resets in (None, make_resets(3, length, chunk_size)):
        kwargs = dict(
            model=model, initial_weights=initial, chunk_size=chunk_size, read_before_update=before, resets=resets
        )
        y_ref, state_ref = naive_neural_memory(*inputs, **kwargs)
        assert y_ref.shape == (3, length, HEADS, WIDTH)
        for name, path in PATHS.items():
            y, state = path(*inputs, **kwargs)
            assert max_abs(y, y_ref) < TOLERANCE[dtype], name
            assert_states_close(state, state_ref, TOLERANCE[dtype], name)


@pytest.mark.parametrize(("chunk_size", "length", "depth", "before", "momentum", "retention"), CASES)
def test_paths_match_oracle_in_gradients(chunk_size, length, depth, before, momentum, retention):
    """Gradients of outputs and final state with respect to every input, the initial weights and
    a warm incoming state that enters mid-chunk."""
    model, initial, inputs = make_inputs(2, length + 2, depth=depth, seed=3)
    inputs = variant(inputs, momentum, retention)
    resets = make_resets(2, length, chunk_size, seed=3)
    with torch.no_grad():  # a warm state two tokens in: mid-chunk for chunk sizes above 2
        _, warm = naive_neural_memory(
            *[x[:, :2] if x is not None else None for x in inputs],
            model=model,
            initial_weights=initial,
            chunk_size=chunk_size,
        )
    leaves = [x.clone().requires_grad_() for x in inputs if x is not None] + [
        w.clone().requires_grad_() for w in initial.values()
    ]
    warm_leaves = {key: t.clone().requires_grad_() for key, t in flatten_state(warm).items() if t.is_floating_point()}
    gen = torch.Generator().manual_seed(7)
    out_weight = torch.randn(2, length, HEADS, WIDTH, generator=gen, dtype=torch.float64)

    def grads(path):
        it = iter(leaves)
        args = [next(it)[:, 2:] if x is not None else None for x in inputs]
        weights = {name: next(it) for name in initial}
        state = _rebuild(warm, warm_leaves)
        y, final = path(
            *args,
            model=model,
            initial_weights=weights,
            state=state,
            resets=resets,
            chunk_size=chunk_size,
            read_before_update=before,
        )
        loss = (y * out_weight).sum()
        for tensor in flatten_state(final).values():
            if tensor.is_floating_point():
                loss = loss + tensor.sin().sum()
        return torch.autograd.grad(loss, leaves + list(warm_leaves.values()), allow_unused=True)

    reference = grads(naive_neural_memory)
    for name, path in PATHS.items():
        for index, (ref, got) in enumerate(zip(reference, grads(path))):
            if ref is None:
                assert got is None or got.abs().max() == 0, (name, index)
            else:
                assert got is not None and max_abs(got, ref) < 1e-9, (name, index)


def _rebuild(state, leaves):
    """The nested state with its floating tensors replaced by ``leaves`` (flat names)."""
    out = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out[key] = {name: leaves[f"{key}.{name}"] for name in value}
        else:
            out[key] = leaves.get(key, value)
    return out


@pytest.mark.parametrize("chunk_size", [1, 3, 4])
def test_one_call_equals_two_calls_split_anywhere(chunk_size):
    """The chunk grid counts from the state, not from the call: any split gives the same result."""
    model, initial, inputs = make_inputs(2, 11, seed=5)
    kwargs = dict(model=model, initial_weights=initial, chunk_size=chunk_size)
    y, final = chunk_neural_memory(*inputs, **kwargs)
    for split in (1, 2, 5, 7):
        y1, middle = chunk_neural_memory(*[x[:, :split] for x in inputs], **kwargs)
        y2, final2 = chunk_neural_memory(*[x[:, split:] for x in inputs], state=middle, **kwargs)
        assert max_abs(torch.cat([y1, y2], 1), y) < 1e-12
        assert_states_close(final2, final, 1e-12, f"split {split}")


def test_samples_at_different_positions_in_one_batch():
    """A batch whose samples enter at different positions of their chunks runs in one call."""
    model, initial, inputs = make_inputs(3, 12, seed=8)
    kwargs = dict(model=model, initial_weights=initial, chunk_size=4)
    with torch.no_grad():
        states = [naive_neural_memory(*[x[:, :n] for x in inputs], **kwargs)[1] for n in (1, 2, 3)]
    mixed = states[0]
    for sample, state in ((1, states[1]), (2, states[2])):
        mask = torch.arange(3) == sample
        mixed = {
            key: select(mask, state[key], value) if isinstance(value, dict) else torch.where(mask, state[key], value)
            for key, value in mixed.items()
        }
    assert mixed["position"].tolist() == [1, 2, 3]
    rest = [x[:, 4:] for x in inputs]
    y_ref, final_ref = naive_neural_memory(*rest, state=mixed, **kwargs)
    y, final = chunk_neural_memory(*rest, state=mixed, **kwargs)
    assert max_abs(y, y_ref) < 1e-10
    assert_states_close(final, final_ref, 1e-10)


@pytest.mark.parametrize("chunk_size", [1, 4])
def test_reset_inside_a_chunk_is_a_fresh_start(chunk_size):
    model, initial, inputs = make_inputs(1, 14, seed=2)
    kwargs = dict(model=model, initial_weights=initial, chunk_size=chunk_size)
    resets = torch.zeros(1, 14, dtype=torch.bool)
    resets[0, 6] = True  # inside the second chunk of 4
    y, final = chunk_neural_memory(*inputs, resets=resets, **kwargs)
    y_fresh, final_fresh = chunk_neural_memory(*[x[:, 6:] for x in inputs], **kwargs)
    assert max_abs(y[:, 6:], y_fresh) < 1e-12
    assert_states_close(final, final_fresh, 1e-12)
    y_carried, _ = chunk_neural_memory(*inputs, **kwargs)
    assert max_abs(y_carried[:, 6:], y_fresh) > 1e-3  # without the reset the past matters


def test_chunk_size_one_is_online_gradient_descent_with_momentum_and_decay():
    """For a matrix memory the definition reduces to closed-form updates, written out here:
    S_t = η_t S_{t-1} − 2 θ_t k_t (k_tᵀ M_{t-1} − v_t)ᵀ,  M_t = (1 − α_t) M_{t-1} + S_t,  y_t = q_tᵀ M_t."""
    model, initial, inputs = make_inputs(2, 7, depth=1, seed=4)
    q, k, v, lr, log_momentum, log_retention = inputs
    memory = initial["w1"].expand(2, -1, -1, -1)
    momentum = torch.zeros_like(memory)
    expected = []
    for t in range(7):
        error = torch.einsum("bhk,bhkv->bhv", k[:, t], memory) - v[:, t]
        gradient = 2 * k[:, t, :, :, None] * error[:, :, None, :]
        momentum = log_momentum[:, t].exp()[..., None, None] * momentum - lr[:, t][..., None, None] * gradient
        memory = log_retention[:, t].exp()[..., None, None] * memory + momentum
        expected.append(torch.einsum("bhk,bhkv->bhv", q[:, t], memory))
    y, state = naive_neural_memory(*inputs, model=model, initial_weights=initial, chunk_size=1)
    assert max_abs(y, torch.stack(expected, 1)) < 1e-12
    assert max_abs(state["weights"]["w1"], memory) < 1e-12
    assert max_abs(state["momentum"]["w1"], momentum) < 1e-12


def test_chunked_gradients_are_taken_at_the_chunk_start():
    """With chunk_size C > 1 the result differs from online descent (C = 1) — the chunk really
    uses its start weights — and still matches the oracle."""
    model, initial, inputs = make_inputs(1, 8, seed=6)
    online, _ = chunk_neural_memory(*inputs, model=model, initial_weights=initial, chunk_size=1)
    chunked, _ = chunk_neural_memory(*inputs, model=model, initial_weights=initial, chunk_size=4)
    assert max_abs(online[:, 1:], chunked[:, 1:]) > 1e-4
    assert max_abs(online[:, 0], chunked[:, 0]) < 1e-12  # the first token is the same either way


def test_strong_forgetting_keeps_gradients_finite():
    model, initial, inputs = make_inputs(2, 16, seed=9, dtype=torch.float32)
    q, k, v, lr, log_momentum, log_retention = inputs
    log_retention = (log_retention * 500).requires_grad_()
    log_momentum = (log_momentum * 500).requires_grad_()
    y, state = chunk_neural_memory(
        q, k, v, lr, log_momentum, log_retention, model=model, initial_weights=initial, chunk_size=8
    )
    (y.sum() + state["weights"]["w2"].sum()).backward()
    assert torch.isfinite(y).all()
    assert torch.isfinite(log_retention.grad).all() and torch.isfinite(log_momentum.grad).all()


def test_inputs_and_state_are_not_modified():
    model, initial, inputs = make_inputs(2, 9, seed=10)
    _, warm = chunk_neural_memory(*[x[:, :2] for x in inputs], model=model, initial_weights=initial, chunk_size=4)
    copies = [x.clone() for x in inputs]
    warm_copy = {key: t.clone() for key, t in flatten_state(warm).items()}
    resets = make_resets(2, 9, 4)
    for path in (chunk_neural_memory, recurrent_neural_memory):
        path(*inputs, model=model, initial_weights=initial, state=warm, resets=resets, chunk_size=4)
    for before, after in zip(copies, inputs):
        assert torch.equal(before, after)
    for key, tensor in flatten_state(warm).items():
        assert torch.equal(warm_copy[key], tensor), key


def test_inner_loss_and_anchor_norm_are_reported_per_token():
    model, initial, inputs = make_inputs(2, 10, seed=11)
    diagnostics = {}
    chunk_neural_memory(*inputs, model=model, initial_weights=initial, chunk_size=4, diagnostics=diagnostics)
    loss, norm = diagnostics["inner_loss"], diagnostics["anchor_norm"]
    assert loss.shape == norm.shape == (2, 10, HEADS)
    initial_norm = torch.sqrt(sum(w.pow(2).flatten(1).sum(-1) for w in initial.values()))
    assert torch.allclose(norm[:, :4], initial_norm.expand(2, 4, HEADS))  # the first chunk: the initial weights
    assert (norm[:, 4] - norm[:, 3]).abs().max() > 1e-6  # the second chunk: moved
    # the first token's loss is at the initial weights: ‖f(k_0) − v_0‖²
    k, v = inputs[1:3]
    expected = (model.forward(initial, k[:, 0, :, None, :])[..., 0, :] - v[:, 0]).pow(2).sum(-1)
    assert max_abs(loss[:, 0], expected) < 1e-12


def test_reset_state_puts_back_only_masked_samples():
    model, initial, inputs = make_inputs(2, 5, seed=12)
    _, warm = chunk_neural_memory(*inputs, model=model, initial_weights=initial, chunk_size=3)
    _, fresh = chunk_neural_memory(*[x[:, :0] for x in inputs], model=model, initial_weights=initial, chunk_size=3)
    mixed = reset_state(warm, fresh, torch.tensor([True, False]))
    assert torch.equal(mixed["weights"]["w1"][0], initial["w1"])
    assert torch.equal(mixed["weights"]["w1"][1], warm["weights"]["w1"][1])
    assert mixed["position"].tolist() == [0, warm["position"][1].item()]
