"""The inner model's hand-written gradients against autograd, its read-through against explicit
per-token weights, and the chunk layout on a case worked out by hand."""

from __future__ import annotations

import pytest
import torch
from engrammar_titans.ops import ChunkLayout, InnerModel
from engrammar_titans.ops.inner_model import combine, mix, stack, unstack


def models():
    return [
        InnerModel((3, 3)),
        InnerModel((3, 5, 2)),
        InnerModel((3, 4, 4, 3), bias=True),
        InnerModel((3, 3), bias=True, residual_norm=True, loss_scale=0.5),
        InnerModel((3, 6, 3), bias=True, residual_norm=True, loss_scale=0.5),
    ]


def random_weights(model, *lead, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {n: 0.6 * torch.randn(*lead, *s, generator=gen, dtype=torch.float64) for n, s in model.shapes().items()}


def norm_for(model, seed=1):
    if not model.residual_norm:
        return None
    gen = torch.Generator().manual_seed(seed)
    width = model.widths[-1]
    return 1 + 0.3 * torch.randn(width, generator=gen, dtype=torch.float64), 0.3 * torch.randn(
        width, generator=gen, dtype=torch.float64
    )


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.widths}-bias{m.bias}-norm{m.residual_norm}")
def test_hand_written_gradients_match_autograd(model):
    weights = random_weights(model)
    norm = norm_for(model)
    gen = torch.Generator().manual_seed(2)
    keys = torch.randn(5, model.widths[0], generator=gen, dtype=torch.float64)
    values = torch.randn(5, model.widths[-1], generator=gen, dtype=torch.float64)
    inputs, deltas, losses = model.gradients(weights, keys, values, norm)
    for j in range(5):
        leaves = {n: w.clone().requires_grad_() for n, w in weights.items()}
        loss = model.loss(leaves, keys[j], values[j], norm)
        assert abs(loss.item() - losses[j].item()) < 1e-12
        expected = torch.autograd.grad(loss, list(leaves.values()))
        one_hot = torch.zeros(5, dtype=torch.float64)
        one_hot[j] = 1.0
        got = model.gradient_sum(inputs, deltas, one_hot)
        for name, grad in zip(leaves, expected):
            assert (got[name] - grad).abs().max() < 1e-12, name


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.widths}-bias{m.bias}-norm{m.residual_norm}")
def test_read_through_equals_reading_explicit_per_token_weights(model):
    """Batch and head dimensions of one each; two carried weight sets, stacked."""
    weights, other = random_weights(model, 1, 1, seed=3), random_weights(model, 1, 1, seed=4)
    norm = norm_for(model)
    gen = torch.Generator().manual_seed(5)
    size = 4
    keys = torch.randn(1, 1, size, model.widths[0], generator=gen, dtype=torch.float64)
    values = torch.randn(1, 1, size, model.widths[-1], generator=gen, dtype=torch.float64)
    queries = torch.randn(1, 1, size, model.widths[0], generator=gen, dtype=torch.float64)
    kappa = torch.randn(1, 1, 2, size, generator=gen, dtype=torch.float64)
    mixing = torch.randn(1, 1, size, size, generator=gen, dtype=torch.float64).tril()
    inputs, deltas, _ = model.gradients(weights, keys, values, norm)
    got = model.read_through(queries, (kappa, stack([weights, other])), mixing, inputs, deltas, norm)
    for t in range(size):
        per_token = model.gradient_sum(inputs, deltas, mixing[..., t, :])
        explicit = combine([(kappa[..., 0, t], weights), (kappa[..., 1, t], other), (1.0, per_token)])
        expected = model.forward(explicit, queries[..., t : t + 1, :], norm)[..., 0, :]
        assert (got[..., t, :] - expected).abs().max() < 1e-12


def test_stacked_gradient_sums_and_mixing_of_weight_sets():
    model = InnerModel((3, 4, 2), bias=True)
    weights, other = random_weights(model, 2, 1, seed=6), random_weights(model, 2, 1, seed=7)
    gen = torch.Generator().manual_seed(8)
    keys = torch.randn(2, 1, 5, 3, generator=gen, dtype=torch.float64)
    values = torch.randn(2, 1, 5, 2, generator=gen, dtype=torch.float64)
    inputs, deltas, _ = model.gradients(weights, keys, values)
    rows = torch.randn(2, 1, 2, 5, generator=gen, dtype=torch.float64)
    stacked = model.gradient_sum(inputs, deltas, rows)
    matrix = torch.randn(2, 1, 3, 2, generator=gen, dtype=torch.float64)
    mixed = mix(matrix, stack([weights, other]))
    for r in range(2):
        single = model.gradient_sum(inputs, deltas, rows[:, :, r])
        assert all((unstack(stacked, r)[n] - single[n]).abs().max() < 1e-12 for n in single)
    for r in range(3):
        expected = combine([(matrix[:, :, r, 0], weights), (matrix[:, :, r, 1], other)])
        assert all((unstack(mixed, r)[n] - expected[n]).abs().max() < 1e-12 for n in expected)


def test_layout_of_a_carried_position_and_a_reset():
    """Chunks of 4; sample 0 enters at position 2 and resets at t = 3; sample 1 starts fresh."""
    position = torch.tensor([2, 0])
    resets = torch.zeros(2, 6, dtype=torch.bool)
    resets[0, 3] = True
    layout = ChunkLayout.plan(position, resets, 6, 4)
    # sample 0: t=0,1 in slots 2,3; the reset at t=3 needs a boundary: t=2 in slot 4, skip to slot 8
    assert layout.slots.tolist() == [[2, 3, 4, 8, 9, 10], [0, 1, 2, 3, 4, 5]]
    assert layout.num_chunks == 3
    assert layout.resets.T.tolist() == [[False, False, True], [False, False, False]]
    assert layout.commits.T.tolist() == [[True, False, False], [True, False, False]]
    assert layout.final_position.tolist() == [3, 2]
    x = torch.arange(12.0).reshape(2, 6, 1)
    grid = layout.to_chunks(x)  # (N, B, 1, C)
    assert grid.shape == (3, 2, 1, 4)
    assert grid[0, 0, 0].tolist() == [0, 0, 0, 1] and grid[2, 0, 0].tolist() == [3, 4, 5, 0]
    assert torch.equal(layout.from_chunks(grid, 6), x)


def test_layout_without_carried_position_or_resets_is_the_identity():
    layout = ChunkLayout.plan(torch.zeros(3, dtype=torch.long), None, 10, 4)
    assert layout.slots is None and layout.num_chunks == 3
    assert layout.final_position.tolist() == [2, 2, 2]
    assert layout.commits.T.tolist() == [[True, True, False]] * 3
