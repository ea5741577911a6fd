"""NTM addressing: hand-computed cases pin the math; the fast path matches the naive oracle."""

from __future__ import annotations

import math

import pytest
import torch
from engrammar_ntm import addressing, naive
from engrammar_ntm.interface import HeadControls, NTMInterface
from engrammar_ntm.memory_step import memory_step

TOL = {"atol": 1e-9, "rtol": 0}


def t(values):
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("impl", [addressing, naive], ids=["fast", "naive"])
class TestHandComputed:
    def test_shift_moves_mass_by_the_offset(self, impl):
        weights = t([[[0.1, 0.2, 0.3, 0.4]]])
        # offsets -1, 0, +1
        torch.testing.assert_close(impl.shift(weights, t([[[0.0, 0.0, 1.0]]])), t([[[0.4, 0.1, 0.2, 0.3]]]), **TOL)
        torch.testing.assert_close(impl.shift(weights, t([[[1.0, 0.0, 0.0]]])), t([[[0.2, 0.3, 0.4, 0.1]]]), **TOL)
        blurred = impl.shift(weights, t([[[0.25, 0.5, 0.25]]]))
        torch.testing.assert_close(blurred, t([[[0.2, 0.2, 0.3, 0.3]]]), **TOL)

    def test_shift_wider_than_memory_wraps(self, impl):
        # offsets -2..2 on 3 cells: offsets 1 and -2 land on the same cell, as do 2 and -1
        shifted = impl.shift(t([[[1.0, 0.0, 0.0]]]), t([[[0.1, 0.2, 0.3, 0.2, 0.2]]]))
        torch.testing.assert_close(shifted, t([[[0.3, 0.3, 0.4]]]), **TOL)

    def test_sharpening(self, impl):
        sharpened = impl.sharpen(t([[[0.5, 0.25, 0.25]]]), t([[2.0]]))
        torch.testing.assert_close(sharpened, t([[[2 / 3, 1 / 6, 1 / 6]]]), **TOL)
        torch.testing.assert_close(impl.sharpen(t([[[0.5, 0.25, 0.25]]]), t([[1.0]])), t([[[0.5, 0.25, 0.25]]]), **TOL)

    def test_interpolation(self, impl):
        mixed = impl.interpolate(t([[[1.0, 0.0, 0.0]]]), t([[[0.0, 0.0, 1.0]]]), t([[0.25]]))
        torch.testing.assert_close(mixed, t([[[0.25, 0.0, 0.75]]]), **TOL)

    def test_content_weights_cosine_softmax(self, impl):
        memory = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
        weights = impl.content_weights(memory, t([[[2.0, 0.0]]]), t([[3.0]]))
        scores = torch.tensor([3.0, 0.0, 3.0 / math.sqrt(2.0)], dtype=torch.float64)
        torch.testing.assert_close(weights, torch.softmax(scores, 0)[None, None], atol=1e-5, rtol=0)

    def test_erase_then_add(self, impl):
        memory = torch.ones(1, 2, 2, dtype=torch.float64)
        weights, erase, add = t([[[1.0, 0.0]]]), t([[[1.0, 0.0]]]), t([[[2.0, 3.0]]])
        torch.testing.assert_close(impl.write_memory(memory, weights, erase, add), t([[[2.0, 4.0], [1.0, 1.0]]]), **TOL)
        torch.testing.assert_close(impl.write_memory(memory, weights, None, add), t([[[3.0, 4.0], [1.0, 1.0]]]), **TOL)

    def test_location_addressing_walks_one_cell_per_step(self, impl):
        # zero memory: content is uniform; with g = 0 the head follows its shift alone
        memory = torch.zeros(1, 5, 2, dtype=torch.float64)
        weights = t([[[1.0, 0.0, 0.0, 0.0, 0.0]]])
        for step in range(1, 4):
            weights = impl.address(
                memory, weights, t([[[1.0, 0.0]]]), t([[1.0]]), t([[0.0]]), t([[[0.0, 0.0, 1.0]]]), t([[5.0]])
            )
            assert int(weights[0, 0].argmax()) == step
            assert float(weights[0, 0].max()) > 0.999


def controls(batch, heads, width, shifts, generator):
    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64)

    return HeadControls(
        keys=torch.randn(batch, heads, width, generator=generator, dtype=torch.float64),
        strengths=3 * rand(batch, heads),
        gates=rand(batch, heads),
        shifts=torch.softmax(torch.randn(batch, heads, shifts, generator=generator, dtype=torch.float64), -1),
        sharpness=1 + 2 * rand(batch, heads),
    )


@pytest.mark.parametrize(
    ("reads", "writes", "shift_range", "erasure"), [(1, 1, 1, True), (2, 2, 2, False), (3, 1, 0, True)]
)
def test_memory_step_matches_naive_in_values_and_gradients(reads, writes, shift_range, erasure):
    generator = torch.Generator().manual_seed(reads * 100 + writes * 10 + shift_range)
    batch, cells, width, shifts = 2, 5, 3, 2 * shift_range + 1
    state = {
        "memory": torch.randn(batch, cells, width, generator=generator, dtype=torch.float64),
        "readers": {
            "weights": torch.softmax(torch.randn(batch, reads, cells, generator=generator, dtype=torch.float64), -1)
        },
        "writers": {
            "weights": torch.softmax(torch.randn(batch, writes, cells, generator=generator, dtype=torch.float64), -1)
        },
    }
    interface = NTMInterface(
        reads=controls(batch, reads, width, shifts, generator),
        writes=controls(batch, writes, width, shifts, generator),
        erase_vectors=torch.rand(batch, writes, width, generator=generator, dtype=torch.float64) if erasure else None,
        add_vectors=torch.randn(batch, writes, width, generator=generator, dtype=torch.float64),
    )
    inputs = [
        state["memory"],
        state["readers"]["weights"],
        state["writers"]["weights"],
        *interface.reads,
        *interface.writes,
        interface.add_vectors,
        *([interface.erase_vectors] if erasure else []),
    ]
    for tensor in inputs:
        tensor.requires_grad_()
    fast_reads, fast_state = memory_step(state, interface, addressing)
    slow_reads, slow_state = memory_step(state, interface, naive)
    fast_out = [fast_reads, fast_state["memory"], fast_state["readers"]["weights"], fast_state["writers"]["weights"]]
    slow_out = [slow_reads, slow_state["memory"], slow_state["readers"]["weights"], slow_state["writers"]["weights"]]
    for fast, slow in zip(fast_out, slow_out):
        torch.testing.assert_close(fast, slow, atol=1e-10, rtol=1e-10)
    probes = [torch.randn(o.shape, generator=generator, dtype=torch.float64) for o in fast_out]
    fast_grads = torch.autograd.grad(sum((o * p).sum() for o, p in zip(fast_out, probes)), inputs)
    slow_grads = torch.autograd.grad(sum((o * p).sum() for o, p in zip(slow_out, probes)), inputs)
    for fast, slow in zip(fast_grads, slow_grads):
        torch.testing.assert_close(fast, slow, atol=1e-9, rtol=1e-9)
