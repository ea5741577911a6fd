"""Step-by-step reference of DNC addressing: the readable definition and the test oracle.

Each function mirrors the one of the same name in :mod:`engrammar_dnc.addressing` or in core's
:mod:`engrammar.nn` (``content_weights``, ``write_memory``, ``read_memory``; ``sharpen_keep_mass``
is ``sharpen(..., keep_mass=True)``), written as explicit loops over samples, heads and cells with
the paper's formulas, using only scalar tensor arithmetic (so gradients flow and can be compared).
Slow on purpose; use tiny sizes.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

import torch
from engrammar.nn import NORM_EPSILON, SHARPEN_EPSILON
from torch import Tensor

from .addressing import ALLOCATION_EPSILON, tie_resolution
from .interface import DNCInterface

__all__ = [
    "allocation_weights",
    "content_weights",
    "directional_weights",
    "naive_memory_step",
    "read_memory",
    "sharpen_keep_mass",
    "update_link",
    "update_precedence",
    "update_usage",
    "write_allocation_weights",
    "write_memory",
]


def _total(terms: Iterable[Tensor]) -> Tensor:
    """Left-to-right sum of tensors (the plain sum, typed)."""
    return functools.reduce(operator.add, terms)


def _softmax(values: list[Tensor]) -> list[Tensor]:
    top = max(float(v.detach()) for v in values)
    exps = [torch.exp(v - top) for v in values]
    total = _total(exps)
    return [e / total for e in exps]


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return _total(a[i] * b[i] for i in range(a.shape[0]))


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    batch, cells, _ = memory.shape
    rows = []
    for b in range(batch):
        for k in range(keys.shape[1]):
            key = keys[b, k]
            key_norm = torch.sqrt(_dot(key, key) + NORM_EPSILON)
            scores = []
            for n in range(cells):
                cell = memory[b, n]
                cosine = _dot(key, cell) / (key_norm * torch.sqrt(_dot(cell, cell) + NORM_EPSILON))
                scores.append(strengths[b, k] * cosine)
            rows.append(torch.stack(_softmax(scores)))
    return torch.stack(rows).reshape(batch, keys.shape[1], cells)


def update_usage(
    usage: Tensor, previous_write_weights: Tensor, free_gates: Tensor, previous_read_weights: Tensor
) -> Tensor:
    batch, cells = usage.shape
    out: list[Tensor] = []
    for b in range(batch):
        for n in range(cells):
            u = usage[b, n]
            for h in range(previous_write_weights.shape[1]):  # each write head: u + w - u w
                w = previous_write_weights[b, h, n]
                u = u + w - u * w
            for r in range(free_gates.shape[1]):
                u = u * (1 - free_gates[b, r] * previous_read_weights[b, r, n])
            out.append(u)
    return torch.stack(out).reshape(batch, cells)


def allocation_weights(usage: Tensor) -> Tensor:
    batch, cells = usage.shape
    out: list[Tensor] = []
    for b in range(batch):
        u = [ALLOCATION_EPSILON + (1 - ALLOCATION_EPSILON) * usage[b, n] for n in range(cells)]
        resolution = tie_resolution(usage.dtype)  # near-ties go by cell index (stable sort)
        order = sorted(range(cells), key=lambda n: float(torch.round(u[n].detach() * resolution)))
        allocation: list[Tensor] = [usage.new_zeros(())] * cells
        used_before = usage.new_ones(())
        for n in order:
            allocation[n] = (1 - u[n]) * used_before
            used_before = used_before * u[n]
        out.append(torch.stack(allocation))
    return torch.stack(out)


def write_allocation_weights(usage: Tensor, write_gates: Tensor) -> Tensor:
    out: list[Tensor] = []
    for h in range(write_gates.shape[1]):
        allocation = allocation_weights(usage)
        out.append(allocation)
        usage = torch.stack(
            [
                torch.stack(
                    [
                        usage[b, n] + (1 - usage[b, n]) * write_gates[b, h] * allocation[b, n]
                        for n in range(usage.shape[1])
                    ]
                )
                for b in range(usage.shape[0])
            ]
        )
    return torch.stack(out, dim=1)


def sharpen_keep_mass(weights: Tensor, gamma: Tensor) -> Tensor:
    batch, heads, cells = weights.shape
    out: list[Tensor] = []
    for b in range(batch):
        for k in range(heads):
            powered = [(weights[b, k, n] + SHARPEN_EPSILON) ** gamma[b, k] for n in range(cells)]
            mass = _total(weights[b, k, n] for n in range(cells))
            total = _total(powered)
            out.extend(p / total * mass for p in powered)
    return torch.stack(out).reshape(batch, heads, cells)


def write_memory(memory: Tensor, write_weights: Tensor, erase_vectors: Tensor | None, write_vectors: Tensor) -> Tensor:
    batch, cells, width = memory.shape
    out: list[Tensor] = []
    for b in range(batch):
        for n in range(cells):
            for w in range(width):
                value = memory[b, n, w]
                if erase_vectors is not None:
                    for h in range(write_weights.shape[1]):
                        value = value * (1 - write_weights[b, h, n] * erase_vectors[b, h, w])
                for h in range(write_weights.shape[1]):
                    value = value + write_weights[b, h, n] * write_vectors[b, h, w]
                out.append(value)
    return torch.stack(out).reshape(batch, cells, width)


def update_link(link: Tensor, precedence: Tensor, write_weights: Tensor) -> Tensor:
    batch, heads, cells, _ = link.shape
    out: list[Tensor] = []
    for b in range(batch):
        for h in range(heads):
            w, p = write_weights[b, h], precedence[b, h]
            for i in range(cells):
                for j in range(cells):
                    if i == j:
                        out.append(link.new_zeros(()))
                    else:
                        out.append((1 - w[i] - w[j]) * link[b, h, i, j] + w[i] * p[j])
    return torch.stack(out).reshape(batch, heads, cells, cells)


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    batch, heads, cells = precedence.shape
    out: list[Tensor] = []
    for b in range(batch):
        for h in range(heads):
            written = _total(write_weights[b, h, n] for n in range(cells))
            out.extend((1 - written) * precedence[b, h, n] + write_weights[b, h, n] for n in range(cells))
    return torch.stack(out).reshape(batch, heads, cells)


def directional_weights(link: Tensor, previous_read_weights: Tensor) -> Tensor:
    batch, heads, cells, _ = link.shape
    reads = previous_read_weights.shape[1]
    forward: list[Tensor] = []
    backward: list[Tensor] = []
    for b in range(batch):
        for r in range(reads):
            w = previous_read_weights[b, r]
            for h in range(heads):
                L = link[b, h]
                for i in range(cells):
                    forward.append(_total(L[i, j] * w[j] for j in range(cells)))
                    backward.append(_total(L[j, i] * w[j] for j in range(cells)))
    shape = (batch, reads, heads, cells)
    return torch.cat([torch.stack(backward).reshape(shape), torch.stack(forward).reshape(shape)], dim=2)


def read_memory(memory: Tensor, read_weights: Tensor) -> Tensor:
    batch, cells, width = memory.shape
    reads = read_weights.shape[1]
    out: list[Tensor] = []
    for b in range(batch):
        for r in range(reads):
            for w in range(width):
                out.append(_total(read_weights[b, r, n] * memory[b, n, w] for n in range(cells)))
    return torch.stack(out).reshape(batch, reads, width)


def naive_memory_step(state: dict, interface: DNCInterface) -> tuple[Tensor, dict]:
    """The oracle of :func:`engrammar_dnc.memory_step.memory_step` (same arguments and results)."""
    memory, readers, writers = state["memory"], state["readers"], state["writers"]
    usage = update_usage(state["usage"], writers["weights"], interface.free_gates, readers["weights"])
    write_content = content_weights(memory, interface.write_keys, interface.write_strengths)
    allocation = write_allocation_weights(usage, interface.write_gates * interface.allocation_gates)
    batch, heads, cells = allocation.shape
    write_weights = torch.stack(
        [
            interface.write_gates[b, h]
            * (
                interface.allocation_gates[b, h] * allocation[b, h, n]
                + (1 - interface.allocation_gates[b, h]) * write_content[b, h, n]
            )
            for b in range(batch)
            for h in range(heads)
            for n in range(cells)
        ]
    ).reshape(batch, heads, cells)
    if interface.write_sharpness is not None:
        write_weights = sharpen_keep_mass(write_weights, interface.write_sharpness)
    memory = write_memory(memory, write_weights, interface.erase_vectors, interface.write_vectors)
    link = update_link(writers["link"], writers["precedence"], write_weights)
    precedence = update_precedence(writers["precedence"], write_weights)
    directional = directional_weights(link, readers["weights"])
    read_content = content_weights(memory, interface.read_keys, interface.read_strengths)
    reads = read_content.shape[1]
    modes = interface.read_modes
    read_weights = []
    for b in range(batch):
        for r in range(reads):
            for n in range(cells):
                value = modes[b, r, 2 * heads] * read_content[b, r, n]
                for h in range(heads):
                    value = value + modes[b, r, h] * directional[b, r, h, n]  # backward
                    value = value + modes[b, r, heads + h] * directional[b, r, heads + h, n]  # forward
                read_weights.append(value)
    read_weights_t = torch.stack(read_weights).reshape(batch, reads, cells)
    if interface.read_sharpness is not None:
        read_weights_t = sharpen_keep_mass(read_weights_t, interface.read_sharpness)
    new_state = {
        "memory": memory,
        "usage": usage,
        "readers": {"weights": read_weights_t},
        "writers": {"weights": write_weights, "precedence": precedence, "link": link},
    }
    return read_memory(memory, read_weights_t), new_state
