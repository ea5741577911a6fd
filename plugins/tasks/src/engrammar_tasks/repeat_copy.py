"""``repeat_copy`` (Graves et al., 2014): read a sequence of random bit vectors and a repeat count,
then write the sequence that many times and raise an end flag.

Layout of one sample of length L and R repeats (padded to max_length * (max_repeats + 1) + 2):

    time      0 .. L-1        L                            L+1 .. L+L*R          L+L*R+1
    input     bits            flag 1, count R/max_repeats  zeros                 zeros
    target    -               -                            bits[(t-L-1) mod L]   end flag 1
    mask      false           false                        true                  true

Input width ``bits + 2`` (delimiter flag, normalised repeat count), output width ``bits + 1`` (the
last output channel is the end flag).
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, spec
from engrammar.task import TaskBatch, TaskSpec

from .bits import BitTask, gather_time, random_bits, random_lengths


@spec
class RepeatCopySpec(TaskSpec):
    bits: int = field(default=8, validator=ge(1), doc="width of each random bit vector")
    min_length: int = field(default=1, validator=ge(1), doc="shortest sequence")
    max_length: int = field(default=10, validator=ge(1), doc="longest sequence")
    min_repeats: int = field(default=1, validator=ge(1), doc="fewest repeats")
    max_repeats: int = field(
        default=10, validator=ge(1), doc="most repeats (the count is given as repeats / max_repeats)"
    )

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) must be <= max_length ({self.max_length})")
        if self.min_repeats > self.max_repeats:
            raise ValueError(f"min_repeats ({self.min_repeats}) must be <= max_repeats ({self.max_repeats})")


class RepeatCopy(BitTask):
    """Copy a bit sequence a given number of times, then flag the end (metric: bits wrong per sequence)."""

    spec_cls = RepeatCopySpec
    spec: RepeatCopySpec

    @property
    def in_features(self) -> int:
        return self.spec.bits + 2

    @property
    def out_features(self) -> int:
        return self.spec.bits + 1

    @property
    def scored_bits(self) -> float:
        s = self.spec
        mean_length = (s.min_length + s.max_length) / 2
        mean_repeats = (s.min_repeats + s.max_repeats) / 2
        return (s.bits + 1) * (mean_length * mean_repeats + 1)  # every step also scores the end flag

    @property
    def sequence_length(self) -> int:
        return self.spec.max_length * (self.spec.max_repeats + 1) + 2

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        lengths = random_lengths(batch_size, s.min_length, s.max_length, generator)[:, None]  # (B, 1)
        repeats = random_lengths(batch_size, s.min_repeats, s.max_repeats, generator)[:, None]
        content = random_bits((batch_size, s.max_length, s.bits), generator)
        time = torch.arange(self.sequence_length)[None]  # (1, T)
        delimiter = (time == lengths).float()
        inputs = torch.cat(
            [
                gather_time(content, time.expand(batch_size, -1)) * (time < lengths)[..., None],
                delimiter[..., None],
                (delimiter * repeats / s.max_repeats)[..., None],
            ],
            dim=-1,
        )
        written = time - lengths - 1  # output steps written so far
        copying = (written >= 0) & (written < lengths * repeats)
        end = written == lengths * repeats
        targets = torch.cat(
            [gather_time(content, written.remainder(lengths)) * copying[..., None], end[..., None].float()], dim=-1
        )
        return TaskBatch(inputs, targets, copying | end)
