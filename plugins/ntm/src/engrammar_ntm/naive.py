"""Step-by-step reference of NTM addressing: the readable definition and the test oracle.

Each function mirrors the one of the same name in :mod:`engrammar_ntm.addressing`, written as
explicit loops over samples, heads and cells with the paper's formulas (scalar tensor arithmetic,
so gradients can be compared). Slow on purpose; use tiny sizes.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

import torch
from torch import Tensor

from .addressing import NORM_EPSILON, SHARPEN_EPSILON

__all__ = ["address", "content_weights", "interpolate", "read_memory", "sharpen", "shift", "write_memory"]


def _total(terms: Iterable[Tensor]) -> Tensor:
    """Left-to-right sum of tensors (the plain sum, typed)."""
    return functools.reduce(operator.add, terms)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return _total(a[i] * b[i] for i in range(a.shape[0]))


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    batch, cells, _ = memory.shape
    heads = keys.shape[1]
    out: list[Tensor] = []
    for b in range(batch):
        for k in range(heads):
            key = keys[b, k]
            key_norm = torch.sqrt(_dot(key, key) + NORM_EPSILON)
            scores = [
                strengths[b, k]
                * _dot(key, memory[b, n])
                / (key_norm * torch.sqrt(_dot(memory[b, n], memory[b, n]) + NORM_EPSILON))
                for n in range(cells)
            ]
            top = max(float(s.detach()) for s in scores)
            exps = [torch.exp(s - top) for s in scores]
            total = _total(exps)
            out.extend(e / total for e in exps)
    return torch.stack(out).reshape(batch, heads, cells)


def interpolate(content: Tensor, previous: Tensor, gates: Tensor) -> Tensor:
    batch, heads, cells = content.shape
    out = [
        gates[b, k] * content[b, k, n] + (1 - gates[b, k]) * previous[b, k, n]
        for b in range(batch)
        for k in range(heads)
        for n in range(cells)
    ]
    return torch.stack(out).reshape(batch, heads, cells)


def shift(weights: Tensor, shifts: Tensor) -> Tensor:
    batch, heads, cells = weights.shape
    reach = shifts.shape[-1] // 2
    out: list[Tensor] = []
    for b in range(batch):
        for k in range(heads):
            for i in range(cells):
                total = weights.new_zeros(())
                for offset in range(-reach, reach + 1):  # mass at cell i - offset moves to cell i
                    total = total + weights[b, k, (i - offset) % cells] * shifts[b, k, offset + reach]
                out.append(total)
    return torch.stack(out).reshape(batch, heads, cells)


def sharpen(weights: Tensor, gamma: Tensor) -> Tensor:
    batch, heads, cells = weights.shape
    out: list[Tensor] = []
    for b in range(batch):
        for k in range(heads):
            powered = [(weights[b, k, n] + SHARPEN_EPSILON) ** gamma[b, k] for n in range(cells)]
            total = _total(powered)
            out.extend(p / total for p in powered)
    return torch.stack(out).reshape(batch, heads, cells)


def address(
    memory: Tensor,
    previous: Tensor,
    keys: Tensor,
    strengths: Tensor,
    gates: Tensor,
    shifts: Tensor,
    gamma: Tensor,
) -> Tensor:
    weights = interpolate(content_weights(memory, keys, strengths), previous, gates)
    return sharpen(shift(weights, shifts), gamma)


def write_memory(memory: Tensor, weights: Tensor, erase_vectors: Tensor | None, add_vectors: Tensor) -> Tensor:
    batch, cells, width = memory.shape
    heads = weights.shape[1]
    out: list[Tensor] = []
    for b in range(batch):
        for n in range(cells):
            for w in range(width):
                value = memory[b, n, w]
                if erase_vectors is not None:
                    for h in range(heads):
                        value = value * (1 - weights[b, h, n] * erase_vectors[b, h, w])
                for h in range(heads):
                    value = value + weights[b, h, n] * add_vectors[b, h, w]
                out.append(value)
    return torch.stack(out).reshape(batch, cells, width)


def read_memory(memory: Tensor, weights: Tensor) -> Tensor:
    batch, cells, width = memory.shape
    reads = weights.shape[1]
    out = [
        _total(weights[b, r, n] * memory[b, n, w] for n in range(cells))
        for b in range(batch)
        for r in range(reads)
        for w in range(width)
    ]
    return torch.stack(out).reshape(batch, reads, width)
