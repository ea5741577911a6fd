"""TTT layers' inner loop, written literally: the readable definition and the test oracle.

Symbols (Sun et al., "Learning to (Learn at Test Time): RNNs with Expressive Hidden States",
2024), per head, with W the weights of the inner model f (see :mod:`..inner_model`; TTT's f has
the residual and the layer norm, ℓ = ½‖f(k) − v‖² by default):

    G_t   = ∇ℓ(W₀; k_t, v_t)                  every token of a mini-batch takes its gradient at
                                              the weights W₀ the mini-batch started from
    W_t   = W₀ − e_i Σ_{j ≤ t} η_j G_j        i = t's position in its mini-batch (1 .. b);
                                              e_i the token scale (the reference uses 1/i)
    y_t   = f(q_t; W_t)
    W₀   ← W_b at the end of each mini-batch of b = ``chunk_size`` tokens

η_j is the learning rate of token j (data-dependent in the layers). Mini-batches count from the
initial state and restart at a reset; the state carries W₀, the running sum Σ η_j G_j and the
position. With b = 1 this is plain online gradient descent, W_t = W_{t−1} − e_1 η_t G_t.

Every gradient here is computed by ``torch.func.grad`` on the loss as written, one token at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import grad, vmap

from ..inner_model import InnerModel, combine, select, zeros_like_params
from ..state import initial_ttt_state, reset_state

__all__ = ["naive_ttt"]


def naive_ttt(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    lr: Tensor,
    *,
    model: InnerModel,
    initial_weights: Mapping[str, Tensor],
    token_scale: Tensor,
    norm: tuple[Tensor, Tensor] | None = None,
    state: Mapping[str, Any] | None = None,
    resets: Tensor | None = None,
    chunk_size: int = 16,
) -> tuple[Tensor, dict[str, Any]]:
    """One token at a time. q, k: (B, T, H, d_0); v: (B, T, H, d_L); lr η: (B, T, H);
    initial_weights: per-head weights (H, ...); token_scale e: (chunk_size,), e_i at index i − 1;
    norm: the inner layer norm's (γ, β), each (H, d_L); state: see :mod:`..state`; resets: (B, T)
    bool. Returns y (B, T, H, d_L) and the final state."""
    batch, length = k.shape[:2]
    start = initial_ttt_state(initial_weights, batch, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    norm_dims = (0, 0) if norm is not None else None
    per_token_gradient = vmap(vmap(grad(model.loss), in_dims=(0, 0, 0, norm_dims)), in_dims=(0, 0, 0, None))
    batched_norm = None if norm is None else (norm[0][:, None], norm[1][:, None])  # (H, 1, d)
    outputs = []
    for t in range(length):
        if resets is not None:
            current = reset_state(current, start, resets[:, t])
        anchor = current["weights"]
        gradient = per_token_gradient(anchor, k[:, t], v[:, t], norm)
        if chunk_size > 1:
            gradient_sum = combine([(1.0, current["gradient_sum"]), (lr[:, t], gradient)])
            position = current["position"] + 1
        else:
            gradient_sum = combine([(lr[:, t], gradient)])
            position = torch.ones(batch, dtype=torch.long, device=k.device)
        scale = token_scale[position - 1][:, None]  # (B, 1): e_i, the same for every head
        weights = combine([(1.0, anchor), (-scale, gradient_sum)])
        outputs.append(model.forward(weights, q[:, t, :, None, :], batched_norm)[..., 0, :])
        if chunk_size > 1:
            commit = position == chunk_size
            current["weights"] = select(commit, weights, anchor)
            current["gradient_sum"] = select(commit, zeros_like_params(gradient_sum), gradient_sum)
            current["position"] = torch.where(commit, torch.zeros_like(position), position)
        else:
            current["weights"] = weights
    if not outputs:
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    return torch.stack(outputs, dim=1), current
