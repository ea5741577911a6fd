"""DNC addressing: hand-computed cases pin the math; the fast paths (composed and fused) match the
naive oracle in values and gradients."""

from __future__ import annotations

import math
from types import SimpleNamespace

import engrammar.nn
import pytest
import torch
from engrammar.testing import assert_matches_oracle, tensor_leaves
from engrammar_dnc import addressing, naive
from engrammar_dnc.fused import FusedMemoryStep
from engrammar_dnc.interface import DNCInterface
from engrammar_dnc.memory_step import composed_memory_step, fused_memory_step, memory_step

TOL = {"atol": 1e-5, "rtol": 0}

#: The fast path under the naive oracle's names: the DNC's own functions and core's shared ones.
fast = SimpleNamespace(
    **{name: getattr(addressing, name) for name in addressing.__all__},
    content_weights=engrammar.nn.content_weights,
    sharpen_keep_mass=lambda weights, gamma: engrammar.nn.sharpen(weights, gamma, keep_mass=True),
    write_memory=engrammar.nn.write_memory,
    read_memory=engrammar.nn.read_memory,
)


def t(values):
    return torch.tensor(values, dtype=torch.float64)


# ---- hand-computed cases ----------------------------------------------------------------------


@pytest.mark.parametrize("impl", [fast, naive], ids=["fast", "naive"])
class TestHandComputed:
    def test_allocation_takes_least_used_first(self, impl):
        # free list by usage: cell 1 (0.1), cell 0 (0.4), cell 2 (0.9)
        allocation = impl.allocation_weights(t([[0.4, 0.1, 0.9]]))
        # a1 = 1 - 0.1; a0 = (1 - 0.4) * 0.1; a2 = (1 - 0.9) * 0.1 * 0.4
        torch.testing.assert_close(allocation, t([[0.06, 0.9, 0.004]]), **TOL)

    def test_two_write_heads_allocate_one_after_the_other(self, impl):
        usage = t([[0.5, 0.5, 1.0]])
        # head 0 (gate 0.5): cells 0, 1 tie at 0.5 -> cell 0 first: a = [0.5, 0.25, 0]
        # its claim: u0 = 0.5 + 0.5 * 0.5 * 0.5 = 0.625, u1 = 0.5 + 0.5 * 0.5 * 0.25 = 0.5625
        # head 1: cell 1 (0.5625) then cell 0 (0.625): a1 = 0.4375, a0 = 0.375 * 0.5625
        allocation = impl.write_allocation_weights(usage, t([[0.5, 1.0]]))
        expected = t([[[0.5, 0.25, 0.0], [0.375 * 0.5625, 0.4375, 0.0]]])
        torch.testing.assert_close(allocation, expected, **TOL)

    def test_usage_adds_writes_and_frees_read_cells(self, impl):
        usage = impl.update_usage(
            t([[0.5, 0.0, 1.0]]),
            previous_write_weights=t([[[0.5, 0.5, 0.0]]]),
            free_gates=t([[1.0]]),
            previous_read_weights=t([[[0.0, 0.0, 1.0]]]),
        )
        # u + w - u w = [0.75, 0.5, 1]; retention (1 - f w_read) = [1, 1, 0]
        torch.testing.assert_close(usage, t([[0.75, 0.5, 0.0]]), **TOL)

    def test_link_update_fractional(self, impl):
        link = t([[[[0.0, 0.2, 0.3], [0.4, 0.0, 0.5], [0.6, 0.7, 0.0]]]])
        precedence = t([[[0.1, 0.2, 0.3]]])
        write = t([[[0.5, 0.25, 0.0]]])
        # L'[i,j] = (1 - w_i - w_j) L[i,j] + w_i p_j, zero diagonal
        expected = t([[[[0.0, 0.15, 0.3], [0.125, 0.0, 0.45], [0.3, 0.525, 0.0]]]])
        torch.testing.assert_close(impl.update_link(link, precedence, write), expected, **TOL)
        # p' = (1 - sum w) p + w
        torch.testing.assert_close(impl.update_precedence(precedence, write), t([[[0.525, 0.3, 0.075]]]), **TOL)

    def test_link_records_write_order_and_reads_follow_it(self, impl):
        link = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
        precedence = torch.zeros(1, 1, 3, dtype=torch.float64)
        for cell in (0, 1, 2):  # write cells 0, 1, 2 in turn
            write = torch.zeros(1, 1, 3, dtype=torch.float64)
            write[0, 0, cell] = 1.0
            link = impl.update_link(link, precedence, write)
            precedence = impl.update_precedence(precedence, write)
        expected = t([[[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]])  # 1 after 0, 2 after 1
        torch.testing.assert_close(link, expected, **TOL)
        directional = impl.directional_weights(link, t([[[0.0, 1.0, 0.0]]]))
        backward, forward = directional[:, :, 0], directional[:, :, 1]
        torch.testing.assert_close(forward, t([[[0.0, 0.0, 1.0]]]), **TOL)  # from 1, forward to 2
        torch.testing.assert_close(backward, t([[[1.0, 0.0, 0.0]]]), **TOL)  # and backward to 0

    def test_content_weights_cosine_softmax(self, impl):
        memory = t([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
        weights = impl.content_weights(memory, t([[[2.0, 0.0]]]), t([[3.0]]))
        scores = torch.tensor([3.0, 0.0, 3.0 / math.sqrt(2.0)], dtype=torch.float64)
        torch.testing.assert_close(weights, torch.softmax(scores, 0)[None, None], **TOL)

    def test_write_erases_then_adds(self, impl):
        memory = torch.ones(1, 2, 2, dtype=torch.float64)
        write, erase, vector = t([[[1.0, 0.0]]]), t([[[1.0, 0.0]]]), t([[[2.0, 3.0]]])
        erased = impl.write_memory(memory, write, erase, vector)
        torch.testing.assert_close(erased, t([[[2.0, 4.0], [1.0, 1.0]]]), **TOL)
        added_only = impl.write_memory(memory, write, None, vector)
        torch.testing.assert_close(added_only, t([[[3.0, 4.0], [1.0, 1.0]]]), **TOL)

    def test_sharpening_keeps_mass(self, impl):
        sharpened = impl.sharpen_keep_mass(t([[[0.4, 0.2, 0.2]]]), t([[2.0]]))
        # [.16, .04, .04] / .24 * .8
        torch.testing.assert_close(sharpened, t([[[0.8 * 2 / 3, 0.8 / 6, 0.8 / 6]]]), **TOL)

    def test_read_is_weighted_sum_of_cells(self, impl):
        memory = t([[[1.0, 2.0], [3.0, 4.0]]])
        torch.testing.assert_close(impl.read_memory(memory, t([[[0.25, 0.75]]])), t([[[2.5, 3.5]]]), **TOL)


def test_allocation_ties_go_to_lower_index_first():
    allocation = addressing.allocation_weights(t([[0.5, 0.5, 0.0]]))
    # cell 2 first, then 0 before 1 (stable sort): a0 = 0.5 * eps, a1 = 0.5 * 0.5 * eps
    assert allocation[0, 2] == pytest.approx(1.0, abs=1e-5)
    assert allocation[0, 0] > allocation[0, 1] > 0


@pytest.mark.parametrize("impl", [addressing, naive], ids=["fast", "naive"])
def test_near_ties_in_usage_resolve_by_cell_index(impl):
    # 0.5 + 1e-13 and 0.5 differ by rounding noise only: cell 0 is allocated first, as for an exact
    # tie, so last-bit noise (batch-size dependent upstream) cannot move a write
    allocation = impl.allocation_weights(t([[0.5 + 1e-13, 0.5, 0.9]]))
    assert allocation[0, 0] == pytest.approx(0.5, abs=1e-6)
    assert allocation[0, 1] == pytest.approx(0.25, abs=1e-6)
    # a real difference still orders by usage
    allocation = impl.allocation_weights(t([[0.5 + 1e-6, 0.5, 0.9]]))
    assert allocation[0, 1] == pytest.approx(0.5, abs=1e-6)


# ---- fast path against the naive oracle -------------------------------------------------------


def random_state(batch, cells, width, reads, writes, generator):
    def softish(*shape):
        return torch.softmax(torch.randn(*shape, generator=generator, dtype=torch.float64), -1) * 0.9

    return {
        "memory": torch.randn(batch, cells, width, generator=generator, dtype=torch.float64),
        "usage": torch.rand(batch, cells, generator=generator, dtype=torch.float64),
        "readers": {"weights": softish(batch, reads, cells)},
        "writers": {
            "weights": softish(batch, writes, cells),
            "precedence": softish(batch, writes, cells),
            "link": torch.rand(batch, writes, cells, cells, generator=generator, dtype=torch.float64) / cells,
        },
    }


def random_interface(batch, width, reads, writes, generator, *, erasure, sharpen):
    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64)

    return DNCInterface(
        read_keys=randn(batch, reads, width),
        read_strengths=1 + 3 * rand(batch, reads),
        write_keys=randn(batch, writes, width),
        write_strengths=1 + 3 * rand(batch, writes),
        erase_vectors=rand(batch, writes, width) if erasure else None,
        write_vectors=randn(batch, writes, width),
        free_gates=rand(batch, reads),
        allocation_gates=rand(batch, writes),
        write_gates=rand(batch, writes),
        read_modes=torch.softmax(randn(batch, reads, 2 * writes + 1), -1),
        read_sharpness=1 + rand(batch, reads) if sharpen else None,
        write_sharpness=1 + rand(batch, writes) if sharpen else None,
    )


@pytest.mark.parametrize(
    ("writes", "erasure", "sharpen"), [(1, True, False), (2, True, True), (2, False, False), (1, False, True)]
)
def test_memory_step_matches_naive_in_values_and_gradients(writes, erasure, sharpen):
    generator = torch.Generator().manual_seed(writes * 10 + erasure * 2 + sharpen)
    batch, cells, width, reads = 2, 5, 3, 2
    state = random_state(batch, cells, width, reads, writes, generator)
    interface = random_interface(batch, width, reads, writes, generator, erasure=erasure, sharpen=sharpen)
    inputs = [x.requires_grad_() for x in tensor_leaves([state, interface])]
    fast = memory_step(state, interface)
    assert_matches_oracle(fast, naive.naive_memory_step(state, interface), inputs)


@pytest.mark.parametrize("seed", range(3))
def test_allocation_fast_matches_naive_with_gradients(seed):
    generator = torch.Generator().manual_seed(seed)
    usage = torch.rand(4, 7, generator=generator, dtype=torch.float64).requires_grad_()
    gates = torch.rand(4, 3, generator=generator, dtype=torch.float64).requires_grad_()
    fast = addressing.write_allocation_weights(usage, gates)
    slow = naive.write_allocation_weights(usage, gates)
    assert_matches_oracle(fast, slow, [usage, gates], atol=1e-12, rtol=1e-12, grad_atol=1e-10, grad_rtol=1e-10)


# ---- the fused single-function step -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reads", "erasure", "gated"), [(1, True, True), (3, True, True), (2, False, True), (2, True, False)]
)
def test_fused_matches_composed_and_naive(reads, erasure, gated):
    generator = torch.Generator().manual_seed(reads * 7 + erasure)
    state = random_state(2, 5, 3, reads, 1, generator)
    interface = random_interface(2, 3, reads, 1, generator, erasure=erasure, sharpen=False)
    if not gated:  # gating off: the interface carries constant ones
        ones = torch.ones(2, 1, dtype=torch.float64)
        interface = interface._replace(allocation_gates=ones, write_gates=ones)
    inputs = [x.requires_grad_() for x in tensor_leaves([state, interface]) if not bool((x == 1).all())]
    fused = fused_memory_step(state, interface)
    assert_matches_oracle(fused, composed_memory_step(state, interface), inputs)
    assert_matches_oracle(fused, naive.naive_memory_step(state, interface), inputs)


@pytest.mark.parametrize("erasure", [True, False])
def test_fused_gradcheck(erasure):
    generator = torch.Generator().manual_seed(3)
    state = random_state(2, 4, 3, 2, 1, generator)
    interface = random_interface(2, 3, 2, 1, generator, erasure=erasure, sharpen=False)
    writers = state["writers"]
    args = [
        state["memory"], state["usage"], state["readers"]["weights"], writers["weights"][:, 0],
        writers["precedence"][:, 0], writers["link"][:, 0], interface.read_keys, interface.read_strengths,
        interface.write_keys, interface.write_strengths, interface.erase_vectors[:, 0] if erasure else None,
        interface.write_vectors[:, 0], interface.free_gates, interface.allocation_gates, interface.write_gates,
        interface.read_modes,
    ]  # fmt: skip
    args = [None if a is None else a.detach().clone().requires_grad_() for a in args]
    assert torch.autograd.gradcheck(FusedMemoryStep.apply, args, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_memory_step_uses_the_fused_path_for_one_write_head_without_sharpening():
    generator = torch.Generator().manual_seed(0)
    state = random_state(1, 4, 3, 2, 1, generator)
    plain = random_interface(1, 3, 2, 1, generator, erasure=True, sharpen=False)
    sharpened = random_interface(1, 3, 2, 1, generator, erasure=True, sharpen=True)
    keys = plain.read_keys.requires_grad_()
    reads, _ = memory_step(state, plain._replace(read_keys=keys))
    assert type(reads.grad_fn).__name__ == "FusedMemoryStepBackward"
    reads, _ = memory_step(state, sharpened._replace(read_keys=keys))
    assert type(reads.grad_fn).__name__ != "FusedMemoryStepBackward"
