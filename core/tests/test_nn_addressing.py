"""Content addressing and sharpening (engrammar.nn.addressing): values against an element-by-element
reference, gradients (autograd and the hand-written backward), and zero-norm keys and cells."""

from __future__ import annotations

import math

import pytest
import torch
from engrammar.nn import (
    NORM_EPSILON,
    content_weights,
    content_weights_backward,
    content_weights_forward,
    cosine_similarity,
    sharpen,
)


def reference_content_weights(memory: torch.Tensor, keys: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """The formula element by element: softmax over n of β cos(k, M_n), ε under each norm."""
    batch, cells, _ = memory.shape
    out = torch.empty(batch, keys.shape[1], cells, dtype=torch.float64)
    for b in range(batch):
        for k in range(keys.shape[1]):
            key = [float(v) for v in keys[b, k]]
            key_norm = math.sqrt(sum(v * v for v in key) + NORM_EPSILON)
            scores = []
            for n in range(cells):
                cell = [float(v) for v in memory[b, n]]
                cell_norm = math.sqrt(sum(v * v for v in cell) + NORM_EPSILON)
                cosine = sum(a * c for a, c in zip(key, cell)) / (key_norm * cell_norm)
                scores.append(float(strength[b, k]) * cosine)
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            for n in range(cells):
                out[b, k, n] = exps[n] / sum(exps)
    return out


def random_inputs(seed: int, batch: int = 2, keys: int = 3, cells: int = 5, width: int = 4):
    gen = torch.Generator().manual_seed(seed)
    memory = torch.randn(batch, cells, width, generator=gen, dtype=torch.float64)
    key = torch.randn(batch, keys, width, generator=gen, dtype=torch.float64)
    strength = 0.5 + 5 * torch.rand(batch, keys, generator=gen, dtype=torch.float64)
    return memory, key, strength


@pytest.mark.parametrize("seed", range(3))
def test_content_weights_match_the_elementwise_reference(seed: int) -> None:
    memory, keys, strength = random_inputs(seed)
    weights = content_weights(memory, keys, strength)
    torch.testing.assert_close(weights, reference_content_weights(memory, keys, strength), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, dtype=torch.float64))


def test_content_weights_hand_computed() -> None:
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    weights = content_weights(memory, torch.tensor([[[2.0, 0.0]]], dtype=torch.float64), torch.tensor([[3.0]]).double())
    scores = torch.tensor([3.0, 0.0, 3.0 / math.sqrt(2.0)], dtype=torch.float64)  # β cos: 1, 0, 1/√2
    torch.testing.assert_close(weights, torch.softmax(scores, 0)[None, None], atol=1e-5, rtol=0)


def test_strength_zero_is_uniform_and_a_large_strength_picks_the_most_similar_cell() -> None:
    memory, keys, _ = random_inputs(4, cells=6)
    uniform = content_weights(memory, keys, torch.zeros(2, 3, dtype=torch.float64))
    torch.testing.assert_close(uniform, torch.full_like(uniform, 1 / 6))
    focused = content_weights(memory, keys, torch.full((2, 3), 500.0, dtype=torch.float64))
    most_similar = cosine_similarity(memory, keys).argmax(-1)
    assert torch.equal(focused.argmax(-1), most_similar)
    assert bool((focused.max(-1).values > 0.99).all())


def test_cosine_similarity_is_the_cosine_up_to_epsilon() -> None:
    memory, keys, _ = random_inputs(5)
    ours = cosine_similarity(memory, keys)
    theirs = torch.nn.functional.cosine_similarity(keys[:, :, None, :], memory[:, None, :, :], dim=-1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert bool((ours.abs() <= 1).all())


def test_leading_dimensions_broadcast_like_matmul() -> None:
    gen = torch.Generator().manual_seed(6)
    memory = torch.randn(2, 4, 5, 3, generator=gen, dtype=torch.float64)  # (B, T, N, W)
    keys = torch.randn(2, 4, 2, 3, generator=gen, dtype=torch.float64)  # (B, T, K, W)
    strength = torch.rand(2, 4, 2, generator=gen, dtype=torch.float64) * 4
    weights = content_weights(memory, keys, strength)
    per_step = torch.stack([content_weights(memory[:, t], keys[:, t], strength[:, t]) for t in range(4)], dim=1)
    torch.testing.assert_close(weights, per_step, atol=1e-14, rtol=0)


def test_content_weights_gradcheck_first_and_second_order() -> None:
    memory, keys, strength = random_inputs(7, batch=1, keys=2, cells=3, width=2)
    inputs = tuple(t.requires_grad_() for t in (memory, keys, strength))
    assert torch.autograd.gradcheck(content_weights, inputs)
    assert torch.autograd.gradgradcheck(content_weights, inputs)


@pytest.mark.parametrize("zero", ["none", "one cell", "whole memory", "one key"])
def test_hand_written_backward_equals_autograd(zero: str) -> None:
    memory, keys, strength = random_inputs(8)
    if zero == "one cell":
        memory[:, 2] = 0.0
    elif zero == "whole memory":
        memory.zero_()
    elif zero == "one key":
        keys[:, 1] = 0.0
    inputs = [t.requires_grad_() for t in (memory, keys, strength)]
    probe = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    weights = content_weights(*inputs)
    expected = torch.autograd.grad((weights * probe).sum(), inputs)
    with torch.no_grad():
        forward_weights, cache = content_weights_forward(
            memory, keys, strength, torch.tensor(NORM_EPSILON, dtype=torch.float64)
        )
        ours = content_weights_backward(probe, forward_weights, memory, keys, strength, cache)
    torch.testing.assert_close(forward_weights, weights.detach(), atol=0, rtol=0)
    for mine, theirs in zip(ours, expected):
        assert bool(torch.isfinite(mine).all())
        torch.testing.assert_close(mine, theirs, atol=1e-10, rtol=1e-9)


def test_zero_keys_and_an_empty_memory_give_uniform_weights_and_finite_gradients() -> None:
    memory = torch.zeros(2, 4, 3, dtype=torch.float64, requires_grad=True)  # an empty memory
    keys = torch.zeros(2, 2, 3, dtype=torch.float64)
    keys[0, 0] = torch.tensor([1.0, -2.0, 0.5])  # one real key, the others zero
    keys.requires_grad_()
    strength = torch.full((2, 2), 3.0, dtype=torch.float64, requires_grad=True)
    weights = content_weights(memory, keys, strength)
    torch.testing.assert_close(weights, torch.full_like(weights, 0.25))
    probe = torch.randn(weights.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for grad in torch.autograd.grad((weights * probe).sum(), [memory, keys, strength]):
        assert bool(torch.isfinite(grad).all())
    # in float32 too (the ε must not vanish against the squared norms)
    weights32 = content_weights(memory.float(), keys.float(), strength.float())
    assert bool(torch.isfinite(weights32).all())


def test_sharpen_hand_computed_and_gamma_one_is_identity() -> None:
    weights = torch.tensor([[[0.5, 0.25, 0.25]]], dtype=torch.float64)
    torch.testing.assert_close(
        sharpen(weights, torch.tensor([[2.0]]).double()), torch.tensor([[[2 / 3, 1 / 6, 1 / 6]]]).double()
    )
    torch.testing.assert_close(sharpen(weights, torch.ones(1, 1, dtype=torch.float64)), weights)
    # keep_mass: [.16, .04, .04] / .24 scaled back to the row's mass .8
    partial = torch.tensor([[[0.4, 0.2, 0.2]]], dtype=torch.float64)
    kept = sharpen(partial, torch.tensor([[2.0]]).double(), keep_mass=True)
    torch.testing.assert_close(kept, 0.8 * torch.tensor([[[2 / 3, 1 / 6, 1 / 6]]]).double())
    torch.testing.assert_close(sharpen(partial, torch.tensor([[2.0]]).double()).sum(-1), torch.ones(1, 1).double())


@pytest.mark.parametrize("keep_mass", [False, True])
def test_sharpen_gradients_are_finite_at_zero_weights_and_pass_gradcheck(keep_mass: bool) -> None:
    weights = torch.tensor([[[0.0, 0.7, 0.3], [0.2, 0.2, 0.6]]], dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor([[1.5, 3.0]], dtype=torch.float64, requires_grad=True)
    out = sharpen(weights, gamma, keep_mass=keep_mass)
    for grad in torch.autograd.grad(out[..., 0].sum(), [weights, gamma]):
        assert bool(torch.isfinite(grad).all())
    smooth = torch.tensor([[[0.1, 0.6, 0.3]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda w, g: sharpen(w, g, keep_mass=keep_mass), (smooth, torch.tensor([[2.0]]).double().requires_grad_())
    )
