"""Titans' long-term memory one token at a time, for streaming: the step of :mod:`.naive` with the
inner gradient written out by hand (:meth:`..inner_model.InnerModel.gradients`) instead of
``torch.func``. Same meaning, same state; one forward and backward of the inner model per token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..inner_model import InnerModel, combine, select
from ..state import initial_memory_state, reset_state

__all__ = ["neural_memory_step", "recurrent_neural_memory"]


def neural_memory_step(
    q_t: Tensor,
    k_t: Tensor,
    v_t: Tensor,
    lr_t: Tensor,
    log_momentum_t: Tensor | None,
    log_retention_t: Tensor | None,
    state: Mapping[str, Any],
    *,
    model: InnerModel,
    chunk_size: int,
    read_before_update: bool = False,
) -> tuple[Tensor, dict[str, Any], Tensor]:
    """One token. q_t, k_t: (B, H, d_0); v_t: (B, H, d_L); lr_t, log_momentum_t, log_retention_t:
    (B, H). Returns y_t (B, H, d_L), the new state (the given one is not modified) and the
    token's inner loss ℓ_t(A_t) (B, H)."""
    weights = state["weights"]
    anchor = state.get("anchor", weights)
    inputs, deltas, loss = model.gradients(anchor, k_t[:, :, None], v_t[:, :, None])
    # the token's gradient, scaled by -θ: the surprise
    surprise = model.gradient_sum(inputs, deltas, -lr_t[..., None])
    new_state: dict[str, Any] = {}
    if log_momentum_t is not None:
        surprise = combine([(log_momentum_t.exp(), state["momentum"]), (1.0, surprise)])
        new_state["momentum"] = surprise
    retention = log_retention_t.exp() if log_retention_t is not None else 1.0
    weights = combine([(retention, weights), (1.0, surprise)])
    new_state["weights"] = weights
    read = anchor if read_before_update else weights
    y_t = model.forward(read, q_t[:, :, None])[:, :, 0]
    if chunk_size > 1:
        position = state["position"] + 1
        commit = position == chunk_size
        new_state["anchor"] = select(commit, weights, anchor)
        new_state["position"] = torch.where(commit, torch.zeros_like(position), position)
    return y_t, new_state, loss[..., 0]


def recurrent_neural_memory(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    lr: Tensor,
    log_momentum: Tensor | None,
    log_retention: Tensor | None,
    *,
    model: InnerModel,
    initial_weights: Mapping[str, Tensor],
    state: Mapping[str, Any] | None = None,
    resets: Tensor | None = None,
    chunk_size: int = 1,
    read_before_update: bool = False,
) -> tuple[Tensor, dict[str, Any]]:
    """The whole sequence through :func:`neural_memory_step`; arguments and results as
    :func:`.naive.naive_neural_memory`."""
    batch, length = k.shape[:2]
    start = initial_memory_state(initial_weights, batch, has_momentum=log_momentum is not None, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    outputs = []
    for t in range(length):
        if resets is not None:
            current = reset_state(current, start, resets[:, t])
        y_t, current, _ = neural_memory_step(
            q[:, t],
            k[:, t],
            v[:, t],
            lr[:, t],
            None if log_momentum is None else log_momentum[:, t],
            None if log_retention is None else log_retention[:, t],
            current,
            model=model,
            chunk_size=chunk_size,
            read_before_update=read_before_update,
        )
        outputs.append(y_t)
    if not outputs:
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    return torch.stack(outputs, dim=1), current
