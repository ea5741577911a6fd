"""``xor``: RealNet's logic example as a per-sequence task. Two bits A and B arrive together at step
0; after ``delay`` further steps (the network "thinks", as RealNet's ``thinking_steps``) the answer
A XOR B is read at the last step, the only scored one.

    time      0          1 .. delay
    input     A, B, 1    zeros (continuous: A, B, 0 at every step)
    target    -          A xor B at step delay
    mask      false      true at the last step

With ``continuous`` the bits stay on the input for the whole sequence (RealNet's default way of
feeding an input), otherwise they are a pulse at step 0 and must be held. Input width 3 (A, B, a
start flag), output one logit; loss: binary cross-entropy; metric: ``accuracy`` (chance 0.5).
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, spec
from engrammar.task import TaskBatch, TaskSpec
from torch import Tensor

from .bits import BitTask, random_bits


@spec
class XorSpec(TaskSpec):
    delay: int = field(default=3, validator=ge(0), doc="steps between the inputs and the scored answer")
    continuous: bool = field(default=False, doc="keep A and B on the input at every step (else only at step 0)")


class Xor(BitTask):
    """A XOR B, read ``delay`` steps after A and B arrive (metric: accuracy)."""

    spec_cls = XorSpec
    spec: XorSpec
    metric_name = "accuracy"
    higher_is_better = True

    @property
    def in_features(self) -> int:
        return 3

    @property
    def out_features(self) -> int:
        return 1

    @property
    def chance_level(self) -> float:
        return 0.5

    @property
    def threshold(self) -> float:
        """Solved at 99% right: the four cases are easy to tell apart once held."""
        return 0.99

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        length = self.spec.delay + 1
        bits = random_bits((batch_size, 2), generator)
        time = torch.arange(length)[None, :, None]  # (1, T, 1)
        shown = torch.ones_like(time, dtype=torch.bool) if self.spec.continuous else time == 0
        inputs = torch.cat([bits[:, None, :] * shown, (time == 0).float().expand(batch_size, -1, -1)], dim=-1)
        targets = torch.zeros(batch_size, length, 1)
        targets[:, -1, 0] = (bits[:, 0] != bits[:, 1]).float()
        mask = torch.zeros(batch_size, length, dtype=torch.bool)
        mask[:, -1] = True
        return TaskBatch(inputs, targets, mask)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``accuracy`` (answers right), the bit metrics, ``loss``."""
        metrics = super().metrics(outputs, batch)
        return {"accuracy": metrics["bit_accuracy"], **metrics}
