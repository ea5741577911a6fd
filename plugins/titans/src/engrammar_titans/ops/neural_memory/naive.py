"""Titans' long-term memory, written literally: the readable definition and the test oracle.

Symbols (Behrouz, Zhong, Mirrokni, "Titans: Learning to Memorize at Test Time", 2025), per head,
with M the weights of the inner model f (see :mod:`..inner_model`):

    ℓ_t(W)  = ‖f(k_t; W) − v_t‖²                     associative loss ("surprise" is its gradient)
    S_t     = η_t S_{t−1} − θ_t ∇ℓ_t(A_t)             momentum; η_t = exp(log_momentum_t)
    M_t     = (1 − α_t) M_{t−1} + S_t                  forgetting; 1 − α_t = exp(log_retention_t)
    y_t     = f(q_t; M_t)                              read after the update (default)
    y_t     = f(q_t; A_t)                              read before the chunk's update (read_before_update)

A_t, the anchor, is the weights at the start of t's chunk: every token of a chunk of
``chunk_size`` tokens takes its gradient there (the paper's mini-batch gradient descent); with
``chunk_size = 1``, A_t = M_{t−1} and this is plain online gradient descent with momentum and
weight decay. Chunks count from the initial state and restart at a reset; the state carries the
position inside the current chunk. Without momentum, S_t = −θ_t ∇ℓ_t(A_t).

Every gradient here is computed by ``torch.func.grad`` on the loss as written, one token at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from ..inner_model import InnerModel, combine, select
from ..state import initial_memory_state, reset_state

__all__ = ["naive_neural_memory"]


def naive_neural_memory(
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
    """One token at a time. q, k: (B, T, H, d_0); v: (B, T, H, d_L); lr θ, log_momentum,
    log_retention: (B, T, H) (None: no momentum / no forgetting); initial_weights: per-head
    weights (H, ...); state: see :mod:`..state`; resets: (B, T) bool.
    Returns y (B, T, H, d_L) and the final state."""
    batch, length = k.shape[:2]
    has_momentum = log_momentum is not None
    start = initial_memory_state(initial_weights, batch, has_momentum=has_momentum, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    per_token_gradient = vmap(vmap(grad(model.loss)))  # over batch, then heads
    outputs = []
    for t in range(length):
        if resets is not None:
            current = reset_state(current, start, resets[:, t])
        weights = current["weights"]
        anchor = current.get("anchor", weights)
        gradient = per_token_gradient(anchor, k[:, t], v[:, t])
        theta = lr[:, t]
        if has_momentum:
            assert log_momentum is not None
            momentum = combine([(log_momentum[:, t].exp(), current["momentum"]), (-theta, gradient)])
            current["momentum"] = momentum
            step = momentum
        else:
            step = combine([(-theta, gradient)])
        retention = log_retention[:, t].exp() if log_retention is not None else 1.0
        weights = combine([(retention, weights), (1.0, step)])
        current["weights"] = weights
        read = anchor if read_before_update else weights
        outputs.append(model.forward(read, q[:, t, :, None, :])[..., 0, :])
        if chunk_size > 1:
            position = current["position"] + 1
            commit = position == chunk_size
            current["anchor"] = select(commit, weights, anchor)
            current["position"] = torch.where(commit, torch.zeros_like(position), position)
    if not outputs:
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    return torch.stack(outputs, dim=1), current
