"""Reading and writing a memory matrix (engrammar.nn.read_write) against an element-by-element
reference, in values and gradients, for one and several write heads."""

from __future__ import annotations

import pytest
import torch
from engrammar.nn import read_memory, write_memory


def reference_write(memory, weights, erase_vectors, add_vectors):
    batch, cells, width = memory.shape
    out = memory.clone()
    for b in range(batch):
        for n in range(cells):
            for w in range(width):
                value = memory[b, n, w]
                if erase_vectors is not None:
                    for h in range(weights.shape[1]):
                        value = value * (1 - weights[b, h, n] * erase_vectors[b, h, w])
                for h in range(weights.shape[1]):
                    value = value + weights[b, h, n] * add_vectors[b, h, w]
                out[b, n, w] = value
    return out


def random_write(heads: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    memory = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    weights = torch.softmax(torch.randn(2, heads, 5, generator=gen, dtype=torch.float64), -1)
    erase = torch.rand(2, heads, 3, generator=gen, dtype=torch.float64)
    add = torch.randn(2, heads, 3, generator=gen, dtype=torch.float64)
    return memory, weights, erase, add


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("erasure", [True, False])
def test_write_matches_the_reference_in_values_and_gradients(heads: int, erasure: bool) -> None:
    memory, weights, erase, add = random_write(heads, seed=heads + 10 * erasure)
    inputs = [memory, weights, add] + ([erase] if erasure else [])
    for tensor in inputs:
        tensor.requires_grad_()
    before = [t.detach().clone() for t in inputs]
    ours = write_memory(memory, weights, erase if erasure else None, add)
    theirs = reference_write(memory, weights, erase if erasure else None, add)
    torch.testing.assert_close(ours, theirs, atol=1e-13, rtol=0)
    probe = torch.randn(ours.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for mine, reference in zip(
        torch.autograd.grad((ours * probe).sum(), inputs), torch.autograd.grad((theirs * probe).sum(), inputs)
    ):
        torch.testing.assert_close(mine, reference, atol=1e-12, rtol=0)
    for tensor, original in zip(inputs, before):
        assert torch.equal(tensor, original)  # nothing written in place


def test_write_hand_computed() -> None:
    memory = torch.ones(1, 2, 2, dtype=torch.float64)
    weights = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    erase, add = torch.tensor([[[1.0, 0.0]]]).double(), torch.tensor([[[2.0, 3.0]]]).double()
    torch.testing.assert_close(
        write_memory(memory, weights, erase, add), torch.tensor([[[2.0, 4.0], [1.0, 1.0]]]).double()
    )
    torch.testing.assert_close(
        write_memory(memory, weights, None, add), torch.tensor([[[3.0, 4.0], [1.0, 1.0]]]).double()
    )


def test_two_heads_erase_multiplicatively() -> None:
    # two heads both fully on cell 0, erasing halves: 1 · (1 - .5)(1 - .5) = .25, then nothing added
    memory = torch.ones(1, 1, 1, dtype=torch.float64)
    weights = torch.ones(1, 2, 1, dtype=torch.float64)
    half = torch.full((1, 2, 1), 0.5, dtype=torch.float64)
    assert float(write_memory(memory, weights, half, torch.zeros(1, 2, 1).double())) == 0.25


def test_read_is_a_weighted_sum_of_cells() -> None:
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)
    weights = torch.tensor([[[0.25, 0.75], [1.0, 0.0]]], dtype=torch.float64)
    torch.testing.assert_close(read_memory(memory, weights), torch.tensor([[[2.5, 3.5], [1.0, 2.0]]]).double())
