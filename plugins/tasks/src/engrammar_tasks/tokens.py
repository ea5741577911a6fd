"""What the recall tasks (``associative_recall``, ``mqar``) share: inputs are one-hot tokens,
outputs are logits over the vocabulary, the loss is cross-entropy at the query positions the mask
selects, and the metric is the accuracy of the arg-max there.
"""

from __future__ import annotations

import torch
from engrammar.task import Task, TaskBatch
from torch import Tensor
from torch.nn import functional as F


class TokenTask(Task):
    """Base of tasks over a vocabulary: ``targets`` (B, T) int64 token ids."""

    metric_name = "accuracy"
    higher_is_better = True

    @property
    def chance_level(self) -> float:
        """A guess among the values the answer can take, without memory: one over their number."""
        return 1.0 / (self.vocab_size - self.vocab_size // 2)

    @property
    def threshold(self) -> float:
        """Solved at 90% of the queries right."""
        return 0.9

    @property
    def vocab_size(self) -> int:
        return int(self.spec.vocab_size)  # type: ignore[attr-defined]

    @property
    def in_features(self) -> int:
        return self.vocab_size

    @property
    def out_features(self) -> int:
        return self.vocab_size

    def encode(self, tokens: Tensor) -> Tensor:
        """Token ids (B, T) -> one-hot float inputs (B, T, vocab_size)."""
        return F.one_hot(tokens, self.vocab_size).float()

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        """Mean cross-entropy over masked positions (0 when none is masked)."""
        per_token = F.cross_entropy(outputs.float().transpose(1, 2), batch.targets, reduction="none")
        mask = batch.mask.to(per_token.dtype)
        return (per_token * mask).sum() / mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``accuracy``: fraction of masked positions whose arg-max is the target; ``loss``."""
        right = (outputs.argmax(dim=-1) == batch.targets) & batch.mask
        return {
            "accuracy": float(right.sum()) / max(int(batch.mask.sum()), 1),
            "loss": float(self.loss(outputs, batch)),
        }


def distinct_tokens(batch_size: int, count: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """``count`` distinct tokens per sample, uniform without replacement from [low, high): (B, count)."""
    order = torch.rand(batch_size, high - low, generator=generator).argsort(dim=1)
    return order[:, :count] + low


def interleave(keys: Tensor, values: Tensor) -> Tensor:
    """(B, N) keys and values -> (B, 2N): k1 v1 k2 v2 ..."""
    return torch.stack([keys, values], dim=2).reshape(keys.shape[0], -1)
