"""The gated delta rule in chunks: the WY / UT representation, for whole sequences.

Same meaning as :mod:`.naive` (read it for the symbols). The sequence is cut into chunks of C
steps. Inside a chunk every step is written against the state S₀ that entered the chunk, with

    G_i  = g_1 + ... + g_i                    cumulative log decay inside the chunk
    Γ_ij = exp(G_i - G_j)   (j <= i, no reset in (j, i]; else 0)      decay from step j to step i
    d_i  = exp(G_i)         (no reset in [1, i]; else 0)               decay of S₀ up to step i

The per-step "new values" u_i = β_i (v_i - (α_i S_{i-1})ᵀ k_i) satisfy a unit lower-triangular
system (the UT transform):

    (I + A) U = β⊙V - (β⊙d⊙K) S₀,     A_ij = β_i Γ_ij k_iᵀ k_j  for j < i

so U = Ũ - W S₀ with Ũ, W from one triangular solve per chunk, all chunks at once. Then

    O   = (d⊙Q) S₀ + (Q Kᵀ ⊙ Γ) U                      outputs of the chunk
    S_C = d_C S₀ + (Γ_C,: ⊙ K)ᵀ U                       state leaving the chunk

and only this state passing runs chunk after chunk. A reset at step i is exact: it zeroes every
Γ_ij across it and d from i on, which is the same as α_i = 0 — a fresh start from zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["chunk_gated_delta_rule"]


def chunk_gated_delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    beta: Tensor,
    *,
    scale: float | None = None,
    initial_state: Tensor | None = None,
    resets: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """The whole sequence in chunks of ``chunk_size`` steps.

    q, k: (B, T, H, K); v: (B, T, H, V); g (log decay, <= 0), beta: (B, T, H);
    initial_state: (B, H, K, V), zeros when None; resets: (B, T) bool, where true the state
    restarts from zeros before that step (anywhere, chunk boundary or not). scale defaults to
    K^-1/2. Returns o (B, T, H, V) and the final state (B, H, K, V).
    """
    batch, length, heads, key_dim = k.shape
    value_dim = v.shape[-1]
    if scale is None:
        scale = key_dim**-0.5
    state = initial_state if initial_state is not None else v.new_zeros(batch, heads, key_dim, value_dim)
    if length == 0:
        return v.new_zeros(batch, 0, heads, value_dim), state

    size = chunk_size
    pad = (-length) % size
    # (B, T, H, D) -> (N, B, H, C, D): chunk-major, so each chunk of every tensor below is one
    # contiguous block for the state-passing loop. Padding steps have k = v = β = g = 0: they
    # leave S as is.
    q, k, v = (_chunks(F.pad(x, (0, 0, 0, 0, 0, pad)), size) for x in (q, k, v))
    g, beta = (_chunks(F.pad(x, (0, 0, 0, pad))[..., None], size)[..., 0] for x in (g, beta))
    q = q * scale

    cum_decay = g.cumsum(dim=-1)  # (N, B, H, C)
    lower = torch.ones(size, size, dtype=torch.bool, device=q.device).tril()
    reach = lower  # (C, C) or (N, B, 1, C, C): may step j's write reach step i?
    from_start = None  # (N, B, 1, C): does the entering state reach step i?
    if resets is not None:
        segment = F.pad(resets, (0, pad)).view(batch, -1, size).transpose(0, 1)[:, :, None].cumsum(dim=-1)
        reach = lower & (segment[..., :, None] == segment[..., None, :])
        from_start = segment == 0

    # exp only of differences that are <= 0 where used: nothing overflows, gradients stay finite.
    gaps = cum_decay[..., :, None] - cum_decay[..., None, :]
    decay_between = gaps.masked_fill(~reach, float("-inf")).exp()  # Γ: (N, B, H, C, C)
    decay_from_start = cum_decay.exp()  # d: (N, B, H, C)
    if from_start is not None:
        decay_from_start = decay_from_start * from_start

    k_beta = k * beta[..., None]
    strictly_lower = (k_beta @ k.transpose(-1, -2)) * decay_between
    # unitriangular=True reads only the strict lower part: this solves (I + A) X = rhs.
    rhs = torch.cat([v * beta[..., None], k_beta * decay_from_start[..., None]], dim=-1)
    solved = torch.linalg.solve_triangular(strictly_lower, rhs, upper=False, unitriangular=True)
    new_values, state_weights = solved.split([value_dim, key_dim], dim=-1)  # Ũ, W

    attention = (q @ k.transpose(-1, -2)) * decay_between  # (Q Kᵀ ⊙ Γ), diagonal included
    q_from_start = q * decay_from_start[..., None]
    k_to_end = k * decay_between[..., -1, :, None]
    decay_chunk = decay_from_start[..., -1, None, None]  # (N, B, H, 1, 1)

    # unbound once: indexing chunk n inside the loop would cost a full-size zero fill per chunk
    # in the backward pass
    per_chunk = zip(*(x.unbind(0) for x in (new_values, state_weights, q_from_start, attention, k_to_end, decay_chunk)))
    outputs = []
    for new_value, state_weight, q_start, attention_n, k_end, decay_n in per_chunk:
        values = new_value - state_weight @ state  # U = Ũ - W S₀
        outputs.append(q_start @ state + attention_n @ values)
        state = decay_n * state + k_end.transpose(-1, -2) @ values
    out = torch.stack(outputs, dim=1)  # (B, N, H, C, V)
    return out.transpose(2, 3).flatten(1, 2)[:, :length], state


def _chunks(x: Tensor, size: int) -> Tensor:
    """(B, T, H, D) with T a multiple of ``size`` -> (T / size, B, H, size, D), contiguous."""
    batch, length, heads, dim = x.shape
    return x.reshape(batch, length // size, size, heads, dim).permute(1, 0, 3, 2, 4).contiguous()
