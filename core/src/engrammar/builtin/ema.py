"""``ema``: the simplest stateful memory, and the documented example of a component.

Per feature d, with a learned decay a_d = sigmoid(decay_logit_d) in (0, 1):

    m_t = a * m_{t-1} + (1 - a) * x_t,    y_t = m_t

The whole-sequence path evaluates the same recurrence in closed form (a weighted cumulative sum in
chunks, so powers of a never underflow); ``_step`` is the readable oracle it is tested against.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..component import Component
from ..spec import ComponentSpec, between, field, spec
from ..state import State, StateEntry


@spec
class EMASpec(ComponentSpec):
    init_decay: float = field(
        default=0.9,
        validator=between(0.0, 1.0, inclusive=False),
        doc="initial decay a of every feature (learned afterwards)",
    )
    chunk_size: int = field(default=16, validator=between(1, 4096), doc="steps per closed-form chunk")


class EMA(Component):
    """Per-feature exponential moving average with a learned decay (state: the running average)."""

    spec_cls = EMASpec
    spec: EMASpec

    def __init__(self, spec: EMASpec | None = None, **fields: object) -> None:
        super().__init__(spec, **fields)
        logit = math.log(self.spec.init_decay / (1.0 - self.spec.init_decay))
        self.decay_logit = nn.Parameter(torch.full((self.in_features,), logit))

    @property
    def out_features(self) -> int:
        return self.in_features

    def state_spec(self) -> dict[str, StateEntry]:
        return {"average": StateEntry((self.in_features,), doc="running average m, per feature")}

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        decay = torch.sigmoid(self.decay_logit).to(x_t.dtype)
        average = decay * state["average"] + (1.0 - decay) * x_t
        return average, {"average": average}

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        log_decay = nn.functional.logsigmoid(self.decay_logit).to(x.dtype)  # log a, (D,)
        one_minus = (1.0 - torch.sigmoid(self.decay_logit)).to(x.dtype)
        average = state["average"]
        outputs = []
        for start in range(0, x.shape[1], self.spec.chunk_size):
            chunk = x[:, start : start + self.spec.chunk_size]  # (B, C, D)
            steps = torch.arange(1, chunk.shape[1] + 1, device=x.device, dtype=x.dtype)
            # m_t = a^t m_0 + sum_{s<=t} a^(t-s) (1-a) x_s, with a^(t-s) = exp((t-s) log a)
            exponent = (steps[:, None, None] - steps[None, :, None]) * log_decay  # (C, C, D)
            causal = torch.tril(torch.ones(chunk.shape[1], chunk.shape[1], device=x.device, dtype=torch.bool))
            weights = torch.where(
                causal[:, :, None], exponent.clamp(max=0).exp(), torch.zeros((), dtype=x.dtype, device=x.device)
            )
            y = torch.einsum("tsd,bsd->btd", weights, one_minus * chunk)
            y = y + torch.exp(steps[:, None] * log_decay) * average[:, None, :]
            outputs.append(y)
            average = y[:, -1]
        return torch.cat(outputs, dim=1), {"average": average}
