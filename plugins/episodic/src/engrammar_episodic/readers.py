"""The first-party read heads: content (cosine + sharpening), attention (scaled dot product) and
sparse (top-k content) reads of the episode table.

Each of H queries is a linear map of the input, q_h = W_q x_t (K wide), and reads
read_h = Σ_n w_h,n U_n over the values U of the slots written since the last reset (slots nobody
wrote get weight 0; before the first write every read is 0). Symbols: β (key strength, ≥ 1) and
γ (sharpening exponent, ≥ 1) as in the NTM and DNC papers; oneplus(z) = 1 + softplus(z).

- ``content_reader``: w_h = sharpen(softmax_n(β_h cos(q_h, M_n)), γ_h), with β_h = oneplus(W_β x_t)
  and γ_h = oneplus(W_γ x_t) (``sharpening: false`` leaves γ out). Reports the slot it weighs most.
- ``attention_reader``: w_h = softmax_n(q_h · M_n / √K). Reports the slot it weighs most.
- ``sparse_reader``: the content weighting without sharpening, kept to the ``top_k`` best slots
  (:mod:`.ops.sparse_read`): the backward pass stores the k rows read, not the table. Reports them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from engrammar.nn import cosine_similarity, sharpen
from engrammar.spec import _RuleBroken, field, ge, spec
from engrammar.state import State
from torch import Tensor, nn

from .heads import HeadSpec, ReadHead, ReadHeadSpec, Reading
from .ops import sparse_read
from .table import Table, mask_free_slots

__all__ = [
    "AttentionReader",
    "AttentionReaderSpec",
    "ContentReader",
    "ContentReaderSpec",
    "SparseReader",
    "SparseReaderSpec",
]


def oneplus(z: Tensor) -> Tensor:
    return 1.0 + F.softplus(z)


@spec
class ContentReaderSpec(ReadHeadSpec):
    sharpening: bool = field(default=True, doc="raise the weighting to a learned power γ ≥ 1 (the NTM's sharpening)")


@spec
class AttentionReaderSpec(ReadHeadSpec):
    pass


@spec
class SparseReaderSpec(ReadHeadSpec):
    top_k: int = field(
        default=8,
        validator=ge(2),
        doc="slots read per query; the backward pass keeps only these (one would weigh 1 always: no gradient to the query)",
    )

    def __attrs_post_init__(self) -> None:
        if self.top_k > self.num_slots:
            raise _RuleBroken("top_k", f"must be <= num_slots ({self.num_slots}), got {self.top_k}")


class _QueryReader(ReadHead):
    """Shared parts: the query map W_q, H queries of width K."""

    def __init__(self, spec: HeadSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        s = self.spec
        self.num_heads: int = s.num_heads  # type: ignore[attr-defined]
        self.query = nn.Linear(self.in_features, self.num_heads * s.key_size)

    def queries(self, x_t: Tensor) -> Tensor:
        """(B, in_features) -> (B, H, K)."""
        return self.query(x_t).unflatten(-1, (self.num_heads, self.spec.key_size))

    def finish(self, weights: Tensor, table: Table, state: State) -> Reading:
        """Dense weights (B, H, N) -> the reading, reporting each query's heaviest slot."""
        reads = weights @ table.values  # (B, H, V)
        return Reading(reads.flatten(-2), state, weights.argmax(-1))


class ContentReader(_QueryReader):
    """Content read head: cosine similarity to a query, key strength β and sharpening γ (as in the NTM)."""

    spec_cls: ClassVar[type[HeadSpec]] = ContentReaderSpec

    def __init__(self, spec: HeadSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.strength = nn.Linear(self.in_features, self.num_heads)
        self.sharpening = nn.Linear(self.in_features, self.num_heads) if self.spec.sharpening else None  # type: ignore[attr-defined]

    def read(self, x_t: Tensor, table: Table, state: State) -> Reading:
        scores = oneplus(self.strength(x_t)).unsqueeze(-1) * cosine_similarity(table.keys, self.queries(x_t))
        weights = torch.softmax(mask_free_slots(scores, table.occupied), dim=-1)
        if self.sharpening is not None:
            weights = sharpen(weights, oneplus(self.sharpening(x_t)))
        return self.finish(weights, table, state)


class AttentionReader(_QueryReader):
    """Attention read head: softmax of scaled dot products q · k / √K over the written slots."""

    spec_cls: ClassVar[type[HeadSpec]] = AttentionReaderSpec

    def read(self, x_t: Tensor, table: Table, state: State) -> Reading:
        scores = self.queries(x_t) @ table.keys.transpose(-1, -2) / math.sqrt(self.spec.key_size)
        weights = torch.softmax(mask_free_slots(scores, table.occupied), dim=-1)
        return self.finish(weights, table, state)


class SparseReader(_QueryReader):
    """Sparse read head: content weighting kept to the top-k slots; backward stores only the k rows read."""

    spec_cls: ClassVar[type[HeadSpec]] = SparseReaderSpec

    def __init__(self, spec: HeadSpec | None = None, **fields: Any) -> None:
        super().__init__(spec, **fields)
        self.strength = nn.Linear(self.in_features, self.num_heads)

    def read(self, x_t: Tensor, table: Table, state: State) -> Reading:
        reads, slots = sparse_read(table, self.queries(x_t), oneplus(self.strength(x_t)), self.spec.top_k)  # type: ignore[attr-defined]
        return Reading(reads.flatten(-2), state, slots.flatten(-2))
