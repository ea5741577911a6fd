"""NTM addressing: hand-computed cases pin the math on both the fast step and the independent
naive oracle; the fast path matches the oracle in values and gradients, step by step and as a whole
component across the option sets."""

from __future__ import annotations

import math

import engrammar.nn
import pytest
import torch
from engrammar.testing import assert_matches_oracle
from engrammar_ntm import NTM, addressing, naive
from engrammar_ntm.interface import HeadControls, NTMInterface, parse_interface, select_step
from engrammar_ntm.memory_step import memory_step
from engrammar_ntm.naive import naive_memory_step

TOL = {"atol": 1e-9, "rtol": 0}


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def one_head(key, strength, gate, shifts, sharpness):
    """Controls of one head of one sample: (1, 1, ...) tensors."""
    return HeadControls(t([[key]]), t([[strength]]), t([[gate]]), t([[shifts]]), t([[sharpness]]))


def single_step(step, memory, previous, head, *, erase=None, add=None):
    """One step with one write head and one read head driven by the same controls; add nothing by
    default, so the write leaves the memory as it was and the read addresses it unchanged."""
    memory = t([memory])
    width = memory.shape[-1]
    state = {"memory": memory, "readers": {"weights": t([[previous]])}, "writers": {"weights": t([[previous]])}}
    interface = NTMInterface(
        reads=head,
        writes=head,
        erase_vectors=None if erase is None else t([[erase]]),
        add_vectors=t([[add]]) if add is not None else torch.zeros(1, 1, width, dtype=torch.float64),
    )
    return step(state, interface)


@pytest.mark.parametrize("step", [memory_step, naive_memory_step], ids=["fast", "naive"])
class TestHandComputed:
    def test_content_addressing_is_a_softmax_of_scaled_cosines(self, step):
        head = one_head([2.0, 0.0], 3.0, 1.0, [0.0, 1.0, 0.0], 1.0)
        _, state = single_step(step, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [1.0, 0.0, 0.0], head)
        scores = t([3.0, 0.0, 3.0 / math.sqrt(2.0)])
        torch.testing.assert_close(state["writers"]["weights"][0, 0], torch.softmax(scores, 0), atol=1e-5, rtol=0)

    def test_shift_moves_mass_by_the_offset_and_wraps(self, step):
        memory = [[1.0, 0.0]] * 4
        for shifts, expected in (
            ([0.0, 0.0, 1.0], [0.4, 0.1, 0.2, 0.3]),  # +1
            ([1.0, 0.0, 0.0], [0.2, 0.3, 0.4, 0.1]),  # -1
            ([0.25, 0.5, 0.25], [0.2, 0.2, 0.3, 0.3]),  # blurred
        ):
            head = one_head([1.0, 0.0], 1.0, 0.0, shifts, 1.0)  # g = 0: the previous weighting alone
            _, state = single_step(step, memory, [0.1, 0.2, 0.3, 0.4], head)
            torch.testing.assert_close(state["writers"]["weights"][0, 0], t(expected), **TOL)
        # offsets -2..2 on 3 cells: offsets 1 and -2 land on the same cell, as do 2 and -1
        head = one_head([1.0, 0.0], 1.0, 0.0, [0.1, 0.2, 0.3, 0.2, 0.2], 1.0)
        _, state = single_step(step, [[1.0, 0.0]] * 3, [1.0, 0.0, 0.0], head)
        torch.testing.assert_close(state["writers"]["weights"][0, 0], t([0.3, 0.3, 0.4]), **TOL)

    def test_interpolation_and_sharpening(self, step):
        # uniform content (equal cells), g = 0.5 with previous [1, 0, 0] -> [2/3, 1/6, 1/6]; γ = 2 -> [16, 1, 1] / 18
        head = one_head([1.0, 0.0], 1.0, 0.5, [0.0, 1.0, 0.0], 2.0)
        _, state = single_step(step, [[1.0, 0.0]] * 3, [1.0, 0.0, 0.0], head)
        torch.testing.assert_close(state["writers"]["weights"][0, 0], t([16 / 18, 1 / 18, 1 / 18]), **TOL)

    def test_erase_then_add_and_the_read_sees_the_write(self, step):
        # a key matching cell 0 only, sharply: the write and the read both land on cell 0
        head = one_head([1.0, 0.0], 200.0, 1.0, [0.0, 1.0, 0.0], 1.0)
        reads, state = single_step(
            step, [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [0.0, 1.0, 0.0], head, erase=[1.0, 0.0], add=[2.0, 3.0]
        )
        torch.testing.assert_close(state["memory"][0], t([[2.0, 3.0], [0.0, 1.0], [-1.0, 0.0]]), atol=1e-6, rtol=0)
        # the written cell 0 is [2, 3], cos with the key 2/√13; cell 1 cos 0: the read leans to cell 0
        weights = state["readers"]["weights"][0, 0]
        expected = torch.softmax(200.0 * t([2 / math.sqrt(13), 0.0, -1.0]), 0)
        torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(reads[0, 0], expected @ state["memory"][0], **TOL)

    def test_location_addressing_walks_one_cell_per_step(self, step):
        # equal cells: content is uniform; with g = 0 the head follows its shift alone
        state = {
            "memory": torch.ones(1, 5, 2, dtype=torch.float64),
            "readers": {"weights": t([[[1.0, 0.0, 0.0, 0.0, 0.0]]])},
            "writers": {"weights": t([[[1.0, 0.0, 0.0, 0.0, 0.0]]])},
        }
        head = one_head([1.0, 0.0], 1.0, 0.0, [0.0, 0.0, 1.0], 5.0)
        interface = NTMInterface(head, head, None, torch.zeros(1, 1, 2, dtype=torch.float64))
        for expected_cell in range(1, 4):
            _, state = step(state, interface)
            assert int(state["readers"]["weights"][0, 0].argmax()) == expected_cell
            assert float(state["readers"]["weights"][0, 0].max()) > 0.999


def test_the_fast_shift_and_interpolation_by_hand():
    weights = t([[[0.1, 0.2, 0.3, 0.4]]])
    torch.testing.assert_close(addressing.shift(weights, t([[[0.0, 0.0, 1.0]]])), t([[[0.4, 0.1, 0.2, 0.3]]]), **TOL)
    mixed = addressing.interpolate(t([[[1.0, 0.0, 0.0]]]), t([[[0.0, 0.0, 1.0]]]), t([[0.25]]))
    torch.testing.assert_close(mixed, t([[[0.25, 0.0, 0.75]]]), **TOL)


def test_the_oracle_uses_the_fast_paths_guards():
    assert naive.NORM_EPSILON == engrammar.nn.NORM_EPSILON
    assert naive.SHARPEN_EPSILON == engrammar.nn.SHARPEN_EPSILON


# ---- fast path against the oracle, step by step ---------------------------------------------


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
    ("reads", "writes", "shift_range", "erasure", "zero_cell"),
    [(1, 1, 1, True, False), (2, 2, 2, False, False), (3, 1, 0, True, False), (2, 3, 3, True, True)],
)
def test_memory_step_matches_the_oracle_in_values_and_gradients(reads, writes, shift_range, erasure, zero_cell):
    generator = torch.Generator().manual_seed(reads * 100 + writes * 10 + shift_range)
    batch, cells, width, shifts = 2, 5, 3, 2 * shift_range + 1
    memory = torch.randn(batch, cells, width, generator=generator, dtype=torch.float64)
    if zero_cell:
        memory[:, 1] = 0.0  # an empty cell: guarded norms on both paths
    state = {
        "memory": memory,
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
    assert_matches_oracle(memory_step(state, interface), naive_memory_step(state, interface), inputs)


# ---- the whole component on the oracle, across the option sets ------------------------------

TINY = {"in_features": 3, "memory_size": 4, "word_size": 3, "num_reads": 1, "num_writes": 1}

OPTION_SETS = [
    TINY,
    {**TINY, "num_reads": 2, "num_writes": 2, "shift_range": 2},
    {**TINY, "erasure": False, "gating": False, "beta": 5.0, "gamma": 2.0},
    {**TINY, "gate_type": "steep_sigmoid", "normalization": True, "shift_range": 0},
    {**TINY, "gate_type": "heaviside", "num_writes": 2},
    {**TINY, "pass_through": True, "initialization": "kaiming", "shift_range": 3},
]


def run_on_the_oracle(component: NTM, x: torch.Tensor) -> torch.Tensor:
    """The component's forward with every memory step taken by the oracle."""
    state = component.init_state(x.shape[0], dtype=x.dtype)
    interfaces = parse_interface(component.interface(x), component.layout)
    reads = []
    for step in range(x.shape[1]):
        read, state = naive_memory_step(state, select_step(interfaces, step))
        reads.append(read.flatten(1))
    return component.read_out(torch.stack(reads, dim=1), x)


@pytest.mark.parametrize(
    "options",
    OPTION_SETS,
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if k not in TINY or TINY[k] != v) or "default",
)
def test_component_matches_the_oracle_in_values_and_gradients_across_options(options):
    torch.manual_seed(0)
    component = NTM(**options).double().eval()
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    fast, _ = component(x)
    assert float(fast.detach().abs().sum()) > 0
    assert_matches_oracle(fast, run_on_the_oracle(component, x), [x, *component.parameters()], nonzero_gradients=True)
