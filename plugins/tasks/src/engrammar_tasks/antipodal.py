"""``antipodal``: regime switching between a pattern and its antipode (the seam-gated seed's data).

A hidden sign s_t in {-1, +1} starts at random and flips with probability ``p_switch`` at each step.
It multiplies the inputs,

    x_t = s_t (μ + ε_t),    μ = signal · 1 / √D,    ε_t ~ N(0, noise² I_D)

so the regime is visible only through a noisy pattern and its antipode; a model does well by
integrating evidence and letting go of it at a switch. The target at every step is the current
regime (class 1 for s = +1, class 0 for s = -1): outputs are two logits, the loss is
cross-entropy. Metrics: ``accuracy`` over all steps, ``accuracy_after_switch`` over the first
``window`` steps from each switch on, and ``accuracy_stable`` over the others.
"""

from __future__ import annotations

import torch
from engrammar.spec import between, field, ge, gt, spec
from engrammar.task import Task, TaskBatch, TaskSpec
from torch import Tensor
from torch.nn import functional as F

__all__ = ["Antipodal", "AntipodalSpec", "steps_since_switch", "switch_mask"]


@spec
class AntipodalSpec(TaskSpec):
    T: int = field(default=200, validator=ge(2), doc="steps per sequence (the seed's T)")
    p_switch: float = field(
        default=0.05, validator=between(0.0, 1.0), doc="probability that the regime flips at a step"
    )
    input_dim: int = field(default=4, validator=ge(1), doc="width D of the inputs")
    signal: float = field(default=1.0, validator=gt(0.0), doc="length of the pattern μ")
    noise: float = field(default=1.0, validator=ge(0.0), doc="standard deviation of ε per input")
    window: int = field(default=5, validator=ge(1), doc="steps from a switch on counted as 'after switch'")


def switch_mask(targets: Tensor) -> Tensor:
    """(B, T) regime classes -> (B, T) bool, true at the steps where the regime just changed."""
    changed = torch.zeros_like(targets, dtype=torch.bool)
    changed[:, 1:] = targets[:, 1:] != targets[:, :-1]
    return changed


def steps_since_switch(targets: Tensor) -> Tensor:
    """(B, T) regime classes -> (B, T) int64 steps since the last switch (0 at a switch; a
    sequence's start counts as T steps away, so it is never 'after a switch')."""
    batch, length = targets.shape
    time = torch.arange(length, device=targets.device).expand(batch, length)
    last = torch.where(switch_mask(targets), time, torch.full_like(time, -length))
    return time - last.cummax(dim=1).values


class Antipodal(Task):
    """Regime switching between a noisy pattern and its antipode; predict the current regime."""

    spec_cls = AntipodalSpec
    spec: AntipodalSpec
    metric_name = "accuracy"
    higher_is_better = True

    @property
    def in_features(self) -> int:
        return self.spec.input_dim

    @property
    def out_features(self) -> int:
        return 2

    @property
    def chance_level(self) -> float:
        """A coin flip: 0.5 (a model that reads only the current input does better, see the docs)."""
        return 0.5

    @property
    def threshold(self) -> float:
        """Solved at 90% of the steps right (above the 84% of a memoryless reader at the defaults)."""
        return 0.9

    @property
    def pattern(self) -> Tensor:
        """μ: (D,)."""
        dim = self.spec.input_dim
        return torch.full((dim,), self.spec.signal / dim**0.5)

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        start = torch.rand(batch_size, 1, generator=generator) < 0.5
        flips = torch.rand(batch_size, s.T, generator=generator) < s.p_switch
        flips[:, 0] = False
        positive = start ^ (flips.long().cumsum(dim=1) % 2).bool()  # (B, T): s_t = +1
        sign = positive.float() * 2 - 1
        noise = torch.randn(batch_size, s.T, s.input_dim, generator=generator) * s.noise
        inputs = sign[..., None] * (self.pattern + noise)
        mask = torch.ones(batch_size, s.T, dtype=torch.bool)
        return TaskBatch(inputs, positive.long(), mask)

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        """Mean cross-entropy over masked steps; ``outputs`` (B, T, 2) logits."""
        per_step = F.cross_entropy(outputs.float().transpose(1, 2), batch.targets, reduction="none")
        mask = batch.mask.to(per_step.dtype)
        return (per_step * mask).sum() / mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``accuracy``, ``accuracy_after_switch`` (the first ``window`` steps from each switch
        on), ``accuracy_stable`` (the other steps), ``loss``. An empty group scores NaN."""
        right = outputs.argmax(dim=-1) == batch.targets
        after = (steps_since_switch(batch.targets) < self.spec.window) & batch.mask
        stable = ~after & batch.mask

        def rate(where: Tensor) -> float:
            count = int(where.sum())
            return float((right & where).sum()) / count if count else float("nan")

        return {
            "accuracy": rate(batch.mask),
            "accuracy_after_switch": rate(after),
            "accuracy_stable": rate(stable),
            "loss": float(self.loss(outputs, batch)),
        }
