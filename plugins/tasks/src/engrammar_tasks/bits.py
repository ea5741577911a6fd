"""What the bit tasks (``copy``, ``repeat_copy``, ``parity``) share: outputs are logits, one per
target bit; the loss is binary cross-entropy over the positions the mask selects; the metric is the
NTM papers' *bits wrong per sequence* (``bit_errors``), a bit being predicted 1 where its logit > 0.
"""

from __future__ import annotations

import torch
from engrammar.task import Task, TaskBatch
from torch import Tensor
from torch.nn import functional as F


class BitTask(Task):
    """Base of tasks whose targets are bits: ``targets`` (B, T, out_features) in {0, 1}."""

    metric_name = "bit_errors"
    higher_is_better = False
    #: the share of scored bits that may be wrong for the task to count as solved
    solved_error_rate = 0.05

    @property
    def scored_bits(self) -> float:
        """The expected number of scored bits (masked positions x output width) per sequence."""
        raise NotImplementedError

    @property
    def chance_level(self) -> float:
        """Bits wrong per sequence when every bit is a coin flip: half the scored bits."""
        return self.scored_bits / 2

    @property
    def threshold(self) -> float:
        """Solved at 5% of the scored bits wrong (95% bit accuracy)."""
        return self.solved_error_rate * self.scored_bits

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        """Mean binary cross-entropy per target bit over masked positions (0 when none is masked)."""
        per_bit = F.binary_cross_entropy_with_logits(outputs.float(), batch.targets.float(), reduction="none")
        mask = batch.mask[..., None].to(per_bit.dtype)
        return (per_bit * mask).sum() / (mask.sum() * per_bit.shape[-1]).clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``bit_errors``: wrong bits per sequence (masked positions only), averaged over the batch;
        ``bit_accuracy``: the fraction of masked bits right; ``loss``."""
        wrong = ((outputs > 0) != (batch.targets > 0.5)) & batch.mask[..., None]
        counted = batch.mask.sum() * outputs.shape[-1]
        return {
            "bit_errors": float(wrong.sum()) / outputs.shape[0],
            "bit_accuracy": 1.0 - float(wrong.sum()) / max(int(counted), 1),
            "loss": float(self.loss(outputs, batch)),
        }


def random_lengths(batch_size: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """Integers uniform in [low, high], shape (B,)."""
    return torch.randint(low, high + 1, (batch_size,), generator=generator)


def random_bits(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Uniform random bits as floats in {0, 1}."""
    return torch.randint(0, 2, shape, generator=generator).float()


def gather_time(sequence: Tensor, index: Tensor) -> Tensor:
    """``sequence`` (B, L, D) read at time ``index`` (B, T) (clamped into range) -> (B, T, D)."""
    index = index.clamp(0, sequence.shape[1] - 1)
    return torch.gather(sequence, 1, index[..., None].expand(-1, -1, sequence.shape[-1]))
