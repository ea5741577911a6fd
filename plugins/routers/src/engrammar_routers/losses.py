"""The routers' auxiliary losses, pooled over every token routed while a recording is open.

Notation, over the N tokens of a recording and E experts:

- f_e = (1/N) sum_tokens share_e: the fraction of the routing decisions that went to expert e
  (top-k: 1/k for each of a token's k selections; a dense router: its probabilities, held
  constant);
- P_e = (1/N) sum_tokens p_e: the mean router probability of expert e.

Load balancing (Switch Transformer, Fedus et al. 2021): ``balance_weight * E * sum_e f_e P_e``. It
is 1 * balance_weight when both are uniform, and its gradient (through P only) lowers the
probability of the experts that receive more than their share.

Router z-loss (ST-MoE, Zoph et al. 2022): ``z_loss_weight * (1/N) sum_tokens (log sum_e exp l_e)^2``
over the router logits l; it keeps the logits small, so the softmax stays in a well-conditioned range.

Both are reported with :class:`engrammar.Pooled` sums, so one loss covers every token of the
recording however the tokens were split into calls (a whole sequence, chunks, single steps).
"""

from __future__ import annotations

from functools import partial

import torch
from engrammar import Pooled, is_recording, report_loss
from torch import Tensor, nn

__all__ = ["balance_loss", "report_balance", "report_z_loss"]


def balance_loss(probability_sum: Tensor, share_sum: Tensor, tokens: float, *, experts: int, weight: float) -> Tensor:
    """``weight * E * sum_e f_e P_e`` from sums over ``tokens`` tokens of the probabilities and shares (E,)."""
    return weight * experts * ((share_sum / tokens) * (probability_sum / tokens)).sum()


def report_balance(module: nn.Module, probabilities: Tensor, share: Tensor, weight: float) -> None:
    """Report ``module``'s load-balancing loss ``load_balance`` for the tokens of ``probabilities``
    and ``share`` (..., E) when a recording is open and ``weight`` > 0."""
    if weight <= 0.0 or not is_recording(module):
        return
    experts = probabilities.shape[-1]
    probabilities = probabilities.reshape(-1, experts)
    share = share.reshape(-1, experts)
    finish = partial(balance_loss, experts=experts, weight=weight)
    report_loss(
        module, "load_balance", Pooled((probabilities.sum(0), share.sum(0), float(probabilities.shape[0])), finish)
    )


def report_z_loss(module: nn.Module, logits: Tensor, weight: float) -> None:
    """Report ``module``'s router z-loss ``z_loss`` for the router ``logits`` (..., E) when a
    recording is open and ``weight`` > 0."""
    if weight <= 0.0 or not is_recording(module):
        return
    squares = torch.logsumexp(logits, dim=-1).square()
    # a mean over every token of the recording: each call weighs in with its number of tokens
    report_loss(module, "z_loss", Pooled.mean(weight * squares.mean(), float(squares.numel())))
