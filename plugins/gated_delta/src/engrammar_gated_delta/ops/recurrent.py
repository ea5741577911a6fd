"""The gated delta rule as a cheap recurrence: one rank-1 update per step, for streaming.

Same meaning as :mod:`.naive` (read it for the symbols) without forming the K×K transition:

    S' = α S;  u = β (v - S'ᵀ k);  S = S' + k uᵀ;  o = Sᵀ (scale · q)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gated_delta_step", "recurrent_gated_delta_rule"]


def gated_delta_step(
    q_t: Tensor, k_t: Tensor, v_t: Tensor, g_t: Tensor, beta_t: Tensor, state: Tensor, scale: float
) -> tuple[Tensor, Tensor]:
    """One step. q_t, k_t: (B, H, K); v_t: (B, H, V); g_t, beta_t: (B, H); state: (B, H, K, V).
    Returns o_t (B, H, V) and the new state; the inputs are not modified."""
    decayed = state * g_t.exp()[..., None, None]
    predicted = torch.einsum("bhkv,bhk->bhv", decayed, k_t)
    update = beta_t[..., None] * (v_t - predicted)
    new_state = decayed + k_t[..., :, None] * update[..., None, :]
    output = torch.einsum("bhkv,bhk->bhv", new_state, q_t * scale)
    return output, new_state


def recurrent_gated_delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    beta: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    resets: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The whole sequence, step by step.

    q, k: (B, T, H, K); v: (B, T, H, V); g (log decay, <= 0), beta: (B, T, H);
    initial_state: (B, H, K, V), zeros when None; resets: (B, T) bool, where true the state
    restarts from zeros before that step. scale defaults to K^-1/2.
    Returns o (B, T, H, V) and the final state (B, H, K, V).
    """
    batch, _, heads, key_dim = k.shape
    if scale is None:
        scale = key_dim**-0.5
    state = initial_state if initial_state is not None else v.new_zeros(batch, heads, key_dim, v.shape[-1])
    # unbind once: indexing step t inside the loop would cost a full-size zero fill per step in
    # the backward pass (quadratic in T)
    steps = zip(q.unbind(1), k.unbind(1), v.unbind(1), g.unbind(1), beta.unbind(1))
    keeps = (~resets).to(state.dtype).unbind(1) if resets is not None else None
    outputs = []
    for t, (q_t, k_t, v_t, g_t, beta_t) in enumerate(steps):
        if keeps is not None:
            state = state * keeps[t][:, None, None, None]
        o_t, state = gated_delta_step(q_t, k_t, v_t, g_t, beta_t, state, scale)
        outputs.append(o_t)
    if not outputs:
        return v.new_zeros(batch, 0, heads, v.shape[-1]), state
    return torch.stack(outputs, dim=1), state
