"""``mqar``: multi-query associative recall, as in the Zoology benchmark (Arora et al., 2023).

A context of N key-value pairs, then a query region in which every key is asked once, at a random
even offset; the answer (the key's value) is the target at the position of the query::

    input    k1 v1 k2 v2 ... kN vN | .  .  k2 .  .  .  k1 .  ...
    target                         |       v2          v1
    mask                           |       true        true

The query region is cut into slots of two tokens; the N slots holding queries are drawn without
replacement with probability proportional to ``slot ** (power_a - 1)`` (Zoology's power law: small
gaps are likelier). Keys come from tokens 1 .. vocab_size/2 - 1, values from the upper half, both
distinct within a sequence; token 0 fills the rest, or random tokens do when
``random_non_queries`` is set (Zoology's default). Inputs are one-hot; metric: accuracy over the
queries.
"""

from __future__ import annotations

import torch
from engrammar.spec import field, ge, gt, spec
from engrammar.task import TaskBatch, TaskSpec

from .tokens import TokenTask, distinct_tokens, interleave


@spec
class MQARSpec(TaskSpec):
    vocab_size: int = field(
        default=64, validator=ge(4), doc="tokens: 0 is filler, keys below vocab_size/2, values above"
    )
    seq_len: int = field(default=64, validator=ge(4), doc="tokens per sequence")
    num_pairs: int = field(default=8, validator=ge(1), doc="key-value pairs in the context, each queried once")
    power_a: float = field(default=0.01, validator=gt(0.0), doc="power-law exponent of the query positions")
    random_non_queries: bool = field(default=True, doc="fill non-query positions with random tokens instead of 0")

    def __attrs_post_init__(self) -> None:
        if self.num_pairs > self.vocab_size // 2 - 1:
            raise ValueError(
                f"num_pairs ({self.num_pairs}) must be <= vocab_size // 2 - 1 ({self.vocab_size // 2 - 1}): "
                "keys are distinct"
            )
        if self.seq_len < 4 * self.num_pairs:
            raise ValueError(
                f"seq_len ({self.seq_len}) must be >= 4 * num_pairs ({4 * self.num_pairs}): "
                "the context and one query slot per key"
            )


class MQAR(TokenTask):
    """Multi-query associative recall (Zoology): every key of the context is queried once (metric: accuracy)."""

    spec_cls = MQARSpec
    spec: MQARSpec

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        half = s.vocab_size // 2
        context = 2 * s.num_pairs
        keys = distinct_tokens(batch_size, s.num_pairs, 1, half, generator)
        values = distinct_tokens(batch_size, s.num_pairs, half, s.vocab_size, generator)
        slots = (s.seq_len - context) // 2
        weights = torch.arange(1, slots + 1, dtype=torch.float64) ** (s.power_a - 1)
        chosen = torch.multinomial(weights.expand(batch_size, -1), s.num_pairs, replacement=False, generator=generator)
        query_positions = context + 2 * chosen  # (B, N): key i is asked at query_positions[:, i]

        tokens = torch.zeros(batch_size, s.seq_len, dtype=torch.long)
        tokens[:, :context] = interleave(keys, values)
        tokens.scatter_(1, query_positions, keys)
        targets = torch.zeros_like(tokens).scatter_(1, query_positions, values)
        mask = torch.zeros(tokens.shape, dtype=torch.bool).scatter_(1, query_positions, True)
        if s.random_non_queries:
            noise = torch.randint(0, s.vocab_size, tokens.shape, generator=generator)
            tokens = torch.where(tokens == 0, noise, tokens)
        return TaskBatch(self.encode(tokens), targets, mask)
