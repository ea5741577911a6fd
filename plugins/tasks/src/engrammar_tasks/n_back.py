"""``n_back``: a working-memory probe. A stream of tokens; at every step from ``n`` on, answer
whether the token is the same as the one ``n`` steps back.

    input     a  c  a  b  b  a ...        (one-hot, width vocab_size)
    target    -  -  1  0  0  0 ...        (n = 2: x_t == x_{t-2})
    mask      false false true ...

Each token repeats the one ``n`` steps back with probability ``p_match`` and is otherwise another
token, uniform among the rest, so the answers are balanced at the default 0.5 and guessing scores
``max(p_match, 1 - p_match)``. Output: one logit (match or not); loss: binary cross-entropy; metric:
``accuracy`` over the scored steps.
"""

from __future__ import annotations

import torch
from engrammar.spec import between, field, ge, spec
from engrammar.task import TaskBatch, TaskSpec
from torch import Tensor
from torch.nn import functional as F

from .bits import BitTask


@spec
class NBackSpec(TaskSpec):
    n: int = field(default=2, validator=ge(1), doc="how many steps back the comparison reaches")
    length: int = field(default=20, validator=ge(2), doc="tokens per sequence")
    vocab_size: int = field(default=4, validator=ge(2), doc="distinct tokens")
    p_match: float = field(
        default=0.5, validator=between(0.0, 1.0), doc="probability that a token repeats the one n steps back"
    )

    def __attrs_post_init__(self) -> None:
        if self.n >= self.length:
            raise ValueError(f"n ({self.n}) must be < length ({self.length}): nothing would be scored")


class NBack(BitTask):
    """Is the token at t the one at t - n? (metric: accuracy over the steps from n on)."""

    spec_cls = NBackSpec
    spec: NBackSpec
    metric_name = "accuracy"
    higher_is_better = True

    @property
    def in_features(self) -> int:
        return self.spec.vocab_size

    @property
    def out_features(self) -> int:
        return 1

    @property
    def chance_level(self) -> float:
        """The constant best guess: ``max(p_match, 1 - p_match)``."""
        return max(self.spec.p_match, 1 - self.spec.p_match)

    @property
    def threshold(self) -> float:
        """Solved at 95% of the answers right."""
        return 0.95

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        chains = -(-s.length // s.n)  # tokens n apart form a chain; ceil(length / n) per chain
        first = torch.randint(0, s.vocab_size, (batch_size, 1, s.n), generator=generator)
        same = torch.rand(batch_size, chains - 1, s.n, generator=generator) < s.p_match
        other = torch.randint(1, s.vocab_size, (batch_size, chains - 1, s.n), generator=generator)
        steps = torch.where(same, torch.zeros_like(other), other)  # 0: repeat, else move to another token
        tokens = torch.cat([first, steps], dim=1).cumsum(dim=1).remainder(s.vocab_size)
        tokens = tokens.reshape(batch_size, chains * s.n)[:, : s.length]  # time t = chain step * n + lane
        targets = torch.zeros(batch_size, s.length, 1)
        targets[:, s.n :, 0] = (tokens[:, s.n :] == tokens[:, : -s.n]).float()
        mask = torch.zeros(batch_size, s.length, dtype=torch.bool)
        mask[:, s.n :] = True
        return TaskBatch(F.one_hot(tokens, s.vocab_size).float(), targets, mask)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``accuracy`` (the fraction of scored steps answered right), the bit metrics, ``loss``."""
        metrics = super().metrics(outputs, batch)
        return {"accuracy": metrics["bit_accuracy"], **metrics}
