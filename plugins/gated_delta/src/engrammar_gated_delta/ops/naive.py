"""The gated delta rule, written literally: the readable definition and the test oracle.

Symbols (Yang, Kautz, Hatamizadeh, "Gated Delta Networks", ICLR 2025), per head:

    S_t = α_t (I - β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ        state S: (K, V)
    o_t = S_tᵀ (scale · q_t)                                     output o: (V,)

with α_t = exp(g_t), g_t <= 0 the log decay, and β_t in (0, 1) the writing strength. A reset at
step t replaces S_{t-1} by zeros before the update. Everything runs in the inputs' dtype, so the
float64 oracle is exact to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["naive_gated_delta_rule"]


def naive_gated_delta_rule(
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
    """One step at a time, forming the K×K transition matrix explicitly.

    q, k: (B, T, H, K); v: (B, T, H, V); g, beta: (B, T, H); initial_state: (B, H, K, V);
    resets: (B, T) bool. Returns o (B, T, H, V) and the final state (B, H, K, V).
    """
    batch, length, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    if scale is None:
        scale = key_dim**-0.5
    state = initial_state if initial_state is not None else v.new_zeros(batch, heads, key_dim, value_dim)
    identity = torch.eye(key_dim, dtype=k.dtype, device=k.device)
    outputs = []
    for t in range(length):
        if resets is not None:
            keep = (~resets[:, t]).to(state.dtype)[:, None, None, None]
            state = state * keep
        k_t, v_t, q_t = k[:, t], v[:, t], q[:, t] * scale  # (B, H, K), (B, H, V), (B, H, K)
        alpha_t = g[:, t].exp()[..., None, None]  # (B, H, 1, 1)
        beta_t = beta[:, t][..., None, None]
        transition = alpha_t * (identity - beta_t * k_t[..., :, None] * k_t[..., None, :])
        state = transition @ state + beta_t * k_t[..., :, None] * v_t[..., None, :]
        outputs.append(torch.einsum("bhk,bhkv->bhv", q_t, state))
    return torch.stack(outputs, dim=1), state
