"""``priority_sort`` (Graves et al., Neural Turing Machines, 2014): read random bit vectors, each
with a scalar priority, then write them back sorted by priority, highest first.

Layout of one sample of L vectors, K of them written (K = ``num_outputs``, or L when unset), padded
to ``max_length + 1 + max K`` steps:

    time      0 .. L-1                   L          L+1 .. L+K                  rest
    input     bits, priority p, flag 0   flag 1     zeros                       zeros
    target    -                          -          bits sorted by p, highest   -
    mask      false                      false      true                        false

Priorities are uniform in [-1, 1] (the paper's range). Input width ``bits + 2`` (the priority and
the delimiter flag), output width ``bits``. The paper's setting is 20 vectors in, the 16 with the
highest priorities out (``max_length=20, min_length=20, num_outputs=16``).
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, optional, spec
from engrammar.task import TaskBatch, TaskSpec

from .bits import BitTask, gather_time, random_bits, random_lengths


@spec
class PrioritySortSpec(TaskSpec):
    bits: int = field(default=8, validator=ge(1), doc="width of each random bit vector")
    min_length: int = field(default=1, validator=ge(1), doc="fewest vectors to sort")
    max_length: int = field(default=10, validator=ge(1), doc="most vectors to sort")
    num_outputs: int | None = field(
        default=None,
        validator=optional(ge(1)),
        doc="write only the this many highest-priority vectors (None: all of them)",
    )

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) must be <= max_length ({self.max_length})")
        if self.num_outputs is not None and self.num_outputs > self.min_length:
            raise ValueError(
                f"num_outputs ({self.num_outputs}) must be <= min_length ({self.min_length}): "
                "every sample has that many vectors"
            )


class PrioritySort(BitTask):
    """Write bit vectors back sorted by their priorities, highest first (metric: bits wrong per sequence)."""

    spec_cls = PrioritySortSpec
    spec: PrioritySortSpec

    @property
    def in_features(self) -> int:
        return self.spec.bits + 2

    @property
    def out_features(self) -> int:
        return self.spec.bits

    @property
    def sequence_length(self) -> int:
        s = self.spec
        return s.max_length + 1 + (s.num_outputs or s.max_length)

    @property
    def scored_bits(self) -> float:
        s = self.spec
        return s.bits * (s.num_outputs or (s.min_length + s.max_length) / 2)

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        lengths = random_lengths(batch_size, s.min_length, s.max_length, generator)[:, None]  # (B, 1)
        content = random_bits((batch_size, s.max_length, s.bits), generator)
        priority = torch.rand(batch_size, s.max_length, generator=generator) * 2 - 1
        slot = torch.arange(s.max_length)[None]
        priority = torch.where(slot < lengths, priority, torch.zeros_like(priority))
        # Padding slots sort last: rank by priority among the real vectors only.
        order = torch.where(slot < lengths, priority, torch.full_like(priority, -3.0)).argsort(dim=1, descending=True)
        ranked = torch.gather(content, 1, order[..., None].expand(-1, -1, s.bits))  # (B, max_length, bits)

        time = torch.arange(self.sequence_length)[None]  # (1, T)
        reading = (time < lengths)[..., None]
        inputs = torch.cat(
            [
                gather_time(content, time.expand(batch_size, -1)) * reading,
                gather_time(priority[..., None], time.expand(batch_size, -1)) * reading,
                (time == lengths)[..., None].float(),
            ],
            dim=-1,
        )
        written = time - lengths - 1  # outputs written so far
        count = lengths if s.num_outputs is None else torch.full_like(lengths, s.num_outputs)
        mask = (written >= 0) & (written < count)
        targets = gather_time(ranked, written) * mask[..., None]
        return TaskBatch(inputs, targets, mask)
