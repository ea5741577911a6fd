"""``parity``: read a stream of random bits and output their parity (XOR).

With ``target: running`` (the default) the target at step t is the parity of bits 0..t, at every
step; with ``target: final`` only the parity of the whole sequence, at the last step, is scored
(much harder for gradient descent: no signal until the end). Input and output width 1.
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, one_of, spec
from engrammar.task import TaskBatch, TaskSpec

from .bits import BitTask, random_bits


@spec
class ParitySpec(TaskSpec):
    length: int = field(default=16, validator=ge(1), doc="bits per sequence")
    target: str = field(
        default="running",
        validator=one_of("running", "final"),
        doc="score the parity at every step, or at the end only",
    )


class Parity(BitTask):
    """Parity (XOR) of a bit stream, at every step or at the end (metric: bits wrong per sequence)."""

    spec_cls = ParitySpec
    spec: ParitySpec

    @property
    def in_features(self) -> int:
        return 1

    @property
    def out_features(self) -> int:
        return 1

    @property
    def scored_bits(self) -> float:
        return float(self.spec.length if self.spec.target == "running" else 1)

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        inputs = random_bits((batch_size, self.spec.length, 1), generator)
        targets = inputs.cumsum(dim=1).remainder(2)
        mask = torch.ones(batch_size, self.spec.length, dtype=torch.bool)
        if self.spec.target == "final":
            mask[:, :-1] = False
        return TaskBatch(inputs, targets, mask)
