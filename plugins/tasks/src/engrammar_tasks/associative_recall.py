"""``associative_recall``: read key-value pairs of tokens, then one key; answer its value.

The token version of the task (as in H3 and Zoology), one query at the end::

    input    k1 v1 k2 v2 ... kN vN q      (q is one of the keys)
    target                           v    (the value that followed q)
    mask     false ...             true

Keys are distinct within a sequence, drawn from the first half of the vocabulary; values (distinct
too) from the second half. Inputs are one-hot (width ``vocab_size``); outputs are logits over the
vocabulary. Metric: accuracy at the query.
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, spec
from engrammar.task import TaskBatch, TaskSpec

from .tokens import TokenTask, distinct_tokens, interleave


@spec
class AssociativeRecallSpec(TaskSpec):
    vocab_size: int = field(default=16, validator=ge(4), doc="tokens: keys are the first half, values the second")
    num_pairs: int = field(default=4, validator=ge(1), doc="key-value pairs before the query")

    def __attrs_post_init__(self) -> None:
        if self.num_pairs > self.vocab_size // 2:
            raise ValueError(
                f"num_pairs ({self.num_pairs}) must be <= vocab_size // 2 ({self.vocab_size // 2}): keys are distinct"
            )


class AssociativeRecall(TokenTask):
    """Recall the value paired with a queried key (one query at the end; metric: accuracy)."""

    spec_cls = AssociativeRecallSpec
    spec: AssociativeRecallSpec

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        half = s.vocab_size // 2
        keys = distinct_tokens(batch_size, s.num_pairs, 0, half, generator)
        values = distinct_tokens(batch_size, s.num_pairs, half, s.vocab_size, generator)
        asked = torch.randint(0, s.num_pairs, (batch_size, 1), generator=generator)
        tokens = torch.cat([interleave(keys, values), keys.gather(1, asked)], dim=1)  # (B, 2N + 1)
        targets = torch.zeros_like(tokens)
        targets[:, -1:] = values.gather(1, asked)
        mask = torch.zeros(tokens.shape, dtype=torch.bool)
        mask[:, -1] = True
        return TaskBatch(self.encode(tokens), targets, mask)
