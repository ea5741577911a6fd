"""The NTM memory step written out from the paper, one sample and one head at a time: the readable
definition and the test oracle of the fast path (:mod:`engrammar_ntm.memory_step`).

Graves, Wayne, Danihelka, "Neural Turing Machines", 2014, section 3. It shares nothing with the
fast path but the interface (:class:`engrammar_ntm.interface.NTMInterface`, the controller output
split and activated): no vectorised op, no core building block. Every quantity is a scalar tensor
(so gradients flow and can be compared); loops run over samples, heads, cells and word components.
Slow on purpose; use tiny sizes.

For one sample, a memory M of N cells M[i] of width W, and one head with key k, strength β, gate g,
shift distribution s over offsets -S..S, sharpening γ and last weighting w_prev:

    (5, 6)  w_c[i] = exp(β K(k, M[i])) / Σ_j exp(β K(k, M[j])),  K(u, v) = u·v / (|u| |v|)
    (7)     w_g = g w_c + (1 - g) w_prev
    (8)     w̃[i] = Σ_{j=-S..S} w_g[(i - j) mod N] s[j]
    (9)     w[i] = w̃[i]^γ / Σ_j w̃[j]^γ
    (3, 4)  M[i] ← M[i] ∘ Π_h (1 - w_h[i] e_h) + Σ_h w_h[i] a_h        (every write head)
    (2)     r = Σ_i w[i] M[i]                                           (every read head)

Two guards the paper leaves out, part of engrammar's definition: |u| is √(u·u + ε) with
ε = :data:`NORM_EPSILON` (a zero key or cell has similarity 0, not 0/0), and w̃ + :data:`SHARPEN_EPSILON`
is raised to γ (a finite d/dγ where w̃ is 0). The step order is the fast path's: the write heads
address the memory as it was and write, then the read heads address the written memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from .interface import HeadControls, NTMInterface

__all__ = ["NORM_EPSILON", "SHARPEN_EPSILON", "naive_memory_step"]

#: The same guards as the fast path's (a test checks they agree), written out so the oracle stands alone.
NORM_EPSILON = 1e-6
SHARPEN_EPSILON = 1e-12

Vector = list[Tensor]  # scalar tensors


def _sum(terms: Iterable[Tensor]) -> Tensor:
    total: Tensor | None = None
    for term in terms:
        total = term if total is None else total + term
    assert total is not None
    return total


def _norm(u: Vector) -> Tensor:
    return torch.sqrt(_sum(x * x for x in u) + NORM_EPSILON)


def _similarity(u: Vector, v: Vector) -> Tensor:
    """K(u, v), equation (6)."""
    return _sum(a * b for a, b in zip(u, v)) / (_norm(u) * _norm(v))


def _address(memory: Sequence[Vector], previous: Vector, head: dict[str, Tensor]) -> Vector:
    """Equations (5) to (9) for one head of one sample: the new weighting over the N cells."""
    cells = len(memory)
    key = list(head["key"])
    scores = [head["strength"] * _similarity(key, memory[i]) for i in range(cells)]
    top = max(float(score.detach()) for score in scores)  # softmax unchanged by a constant shift
    exps = [torch.exp(score - top) for score in scores]
    content = [e / _sum(exps) for e in exps]
    gate = head["gate"]
    gated = [gate * content[i] + (1 - gate) * previous[i] for i in range(cells)]
    shifts = head["shifts"]
    reach = (shifts.shape[0] - 1) // 2
    shifted = [_sum(gated[(i - j) % cells] * shifts[j + reach] for j in range(-reach, reach + 1)) for i in range(cells)]
    powered = [(value + SHARPEN_EPSILON) ** head["sharpness"] for value in shifted]
    return [p / _sum(powered) for p in powered]


def _head(controls: HeadControls, sample: int, head: int) -> dict[str, Tensor]:
    return {
        "key": controls.keys[sample, head],
        "strength": controls.strengths[sample, head],
        "gate": controls.gates[sample, head],
        "shifts": controls.shifts[sample, head],
        "sharpness": controls.sharpness[sample, head],
    }


def _stack(rows: Sequence[Sequence[Vector]]) -> Tensor:
    """[sample][row][column] scalar tensors -> (B, rows, columns)."""
    return torch.stack([torch.stack([torch.stack(list(row)) for row in sample]) for sample in rows])


def naive_memory_step(state: dict, interface: NTMInterface) -> tuple[Tensor, dict]:
    """Same arguments and results as :func:`engrammar_ntm.memory_step.memory_step`: ``state`` holds
    ``memory`` (B, N, W), ``readers.weights`` (B, R, N), ``writers.weights`` (B, H, N); returns the
    read vectors (B, R, W) and the new state."""
    memory_in = state["memory"]
    batch, cells, width = memory_in.shape
    reads_count = state["readers"]["weights"].shape[1]
    writes_count = state["writers"]["weights"].shape[1]
    memories, reads, read_weights, write_weights = [], [], [], []
    for b in range(batch):
        memory = [[memory_in[b, i, w] for w in range(width)] for i in range(cells)]
        writing = [
            _address(memory, list(state["writers"]["weights"][b, h]), _head(interface.writes, b, h))
            for h in range(writes_count)
        ]
        written = []
        for i in range(cells):
            row = []
            for w in range(width):
                value = memory[i][w]
                if interface.erase_vectors is not None:  # erase (3), every head, before any add
                    for h in range(writes_count):
                        value = value * (1 - writing[h][i] * interface.erase_vectors[b, h, w])
                for h in range(writes_count):  # add (4)
                    value = value + writing[h][i] * interface.add_vectors[b, h, w]
                row.append(value)
            written.append(row)
        reading = [
            _address(written, list(state["readers"]["weights"][b, r]), _head(interface.reads, b, r))
            for r in range(reads_count)
        ]
        reads.append(
            [
                [_sum(reading[r][i] * written[i][w] for i in range(cells)) for w in range(width)]
                for r in range(reads_count)
            ]
        )
        memories.append(written)
        read_weights.append([reading[r] for r in range(reads_count)])
        write_weights.append([writing[h] for h in range(writes_count)])
    new_state = {
        "memory": _stack(memories),
        "readers": {"weights": _stack(read_weights)},
        "writers": {"weights": _stack(write_weights)},
    }
    return _stack(reads), new_state
