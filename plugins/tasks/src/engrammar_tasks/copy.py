"""``copy`` (Graves et al., Neural Turing Machines, 2014): read a sequence of random bit vectors,
then a delimiter, then write the sequence back.

Layout of one sample of length L (samples are padded to the longest possible, 2 * max_length + 1):

    time      0 .. L-1         L            L+1 .. 2L        rest
    input     bits, flag 0     flag 1       zeros            zeros
    target    -                -            bits[0 .. L-1]   -
    mask      false            false        true             false

Input width ``bits + 1`` (the last channel is the delimiter flag), output width ``bits``.
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, spec
from engrammar.task import TaskBatch, TaskSpec

from .bits import BitTask, gather_time, random_bits, random_lengths


@spec
class CopySpec(TaskSpec):
    bits: int = field(default=8, validator=ge(1), doc="width of each random bit vector")
    min_length: int = field(default=1, validator=ge(1), doc="shortest sequence to copy")
    max_length: int = field(default=10, validator=ge(1), doc="longest sequence to copy")

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) must be <= max_length ({self.max_length})")


class Copy(BitTask):
    """Copy a sequence of random bit vectors after a delimiter (metric: bits wrong per sequence)."""

    spec_cls = CopySpec
    spec: CopySpec

    @property
    def in_features(self) -> int:
        return self.spec.bits + 1

    @property
    def out_features(self) -> int:
        return self.spec.bits

    @property
    def scored_bits(self) -> float:
        return self.spec.bits * (self.spec.min_length + self.spec.max_length) / 2

    @property
    def sequence_length(self) -> int:
        return 2 * self.spec.max_length + 1

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        lengths = random_lengths(batch_size, s.min_length, s.max_length, generator)[:, None]  # (B, 1)
        content = random_bits((batch_size, s.max_length, s.bits), generator)
        time = torch.arange(self.sequence_length)[None]  # (1, T)
        reading = (time < lengths)[..., None]
        inputs = torch.cat(
            [gather_time(content, time.expand(batch_size, -1)) * reading, (time == lengths)[..., None].float()],
            dim=-1,
        )
        source = time - lengths - 1  # which input step each output step repeats
        mask = (source >= 0) & (source < lengths)
        targets = gather_time(content, source) * mask[..., None]
        return TaskBatch(inputs, targets, mask)
