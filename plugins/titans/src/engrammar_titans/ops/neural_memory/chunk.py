"""Titans' long-term memory in chunks: the parallel form, for whole sequences.

Same meaning as :mod:`.naive` (read it for the symbols). Every gradient of a chunk is taken at its
anchor A, so the chunk's token gradients G_j = ∇ℓ_j(A) come from one batched forward and backward
of the inner model, and momentum and forgetting are linear recurrences with scalar coefficients.
Unrolled from the state (M₀, S₀) that entered the chunk, for t = 1 .. C:

    S_t = E(0,t) S₀ − Σ_{j≤t} θ_j E(j,t) G_j                  E(j,t) = Π_{j<r≤t} η_r
    M_t = F(0,t) M₀ + Σ_{r≤t} F(r,t) S_r                       F(r,t) = Π_{r<u≤t} (1 − α_u)
        = λ_t M₀ + μ_t S₀ + Σ_{j≤t} c(t,j) G_j

    λ_t = F(0,t),   μ_t = Σ_{r≤t} F(r,t) E(0,r),   c(t,j) = −θ_j Σ_{j≤r≤t} F(r,t) E(j,r)

E and F are lower-triangular (C × C) matrices of exponentiated differences of cumulative logs
(taken only where the difference is ≤ 0, so nothing overflows), so the scan of momentum and decay
is c = −(F E) ⊙ θ, one small matrix product per chunk and head, for all chunks at once. The read
y_t = f(q_t; M_t) goes through :meth:`..inner_model.InnerModel.read_through` (attention over the
keys' activations, never forming M_t), and the state leaving the chunk is row C of the same
formulas. Only the state passing, and the gradients at each new anchor, run chunk after chunk.

Empty slots of the :class:`..layout.ChunkLayout` (a carried position, resets) have θ = 0, η = 1,
α = 0 and do not add S to M: they change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..inner_model import InnerModel, Params, mix, select, stack, unstack, weight_norm
from ..layout import ChunkLayout
from ..state import initial_memory_state

__all__ = ["chunk_neural_memory"]


def chunk_neural_memory(
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
    chunk_size: int = 16,
    read_before_update: bool = False,
    diagnostics: dict[str, Tensor] | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """The whole sequence in chunks of ``chunk_size`` tokens; arguments and results as
    :func:`.naive.naive_neural_memory`. When ``diagnostics`` is a dict, it receives each token's
    inner loss ℓ_t(A_t) as ``inner_loss`` and the norm of its anchor ‖A_t‖ (all layers) as
    ``anchor_norm``, each (B, T, H)."""
    batch, length = k.shape[:2]
    has_momentum = log_momentum is not None
    start = initial_memory_state(initial_weights, batch, has_momentum=has_momentum, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    if length == 0:
        if diagnostics is not None:
            diagnostics.update(
                inner_loss=v.new_zeros(batch, 0, k.shape[2]), anchor_norm=v.new_zeros(batch, 0, k.shape[2])
            )
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    position = current.get("position", torch.zeros(batch, dtype=torch.long, device=k.device))
    layout = ChunkLayout.plan(position, resets, length, chunk_size)
    queries, keys, values = (layout.to_chunks(x) for x in (q, k, v))  # (N, B, H, C, d)
    real = layout.real[:, :, None, :].to(k.dtype)  # (N, B, 1, C)
    theta = layout.to_chunks(lr)  # (N, B, H, C), 0 in empty slots
    kappa, gradient_mix, end_matrix, end_rows = _coefficients(
        theta,
        None if log_momentum is None else layout.to_chunks(log_momentum),
        None if log_retention is None else layout.to_chunks(log_retention),
        real,
    )

    # the carried weight sets, stacked: (M, S) with momentum, M alone without
    sets = [current["weights"], current["momentum"]] if has_momentum else [current["weights"]]
    carry = stack(sets)
    anchor: Params = current.get("anchor", current["weights"])
    initial_carry = stack([start["weights"], start["momentum"]] if has_momentum else [start["weights"]])
    resets_in_chunk = layout.resets.any(1).tolist()
    commits_everywhere = layout.commits.all(1).tolist()
    outputs, losses, norms = [], [], []
    # unbound once: indexing chunk n inside the loop would cost a full-size zero fill per chunk in
    # the backward pass
    per_chunk = zip(*(x.unbind(0) for x in (queries, keys, values, kappa, gradient_mix, end_matrix, end_rows)))
    for n, (queries_n, keys_n, values_n, kappa_n, mixing_n, end_matrix_n, end_rows_n) in enumerate(per_chunk):
        if resets_in_chunk[n]:
            restart = layout.resets[n]
            carry = select(restart, initial_carry, carry)
            anchor = select(restart, start["weights"], anchor)
        inputs, deltas, loss = model.gradients(anchor, keys_n, values_n)
        losses.append(loss)
        if diagnostics is not None:
            norms.append(weight_norm(anchor))
        if read_before_update:
            outputs.append(model.forward(anchor, queries_n))
        else:
            outputs.append(model.read_through(queries_n, (kappa_n, carry), mixing_n, inputs, deltas))
        carry = mix(end_matrix_n, carry, plus=model.gradient_sum(inputs, deltas, end_rows_n))
        weights = unstack(carry, 0)
        if chunk_size == 1 or commits_everywhere[n]:
            anchor = weights
        else:
            anchor = select(layout.commits[n], weights, anchor)

    final: dict[str, Any] = {"weights": _contiguous(unstack(carry, 0))}
    if has_momentum:
        final["momentum"] = _contiguous(unstack(carry, 1))
    if chunk_size > 1:
        final["anchor"] = _contiguous(anchor)
        final["position"] = layout.final_position
    if diagnostics is not None:
        chunk_norms = torch.stack(norms)[..., None].expand(*torch.stack(losses).shape)  # (N, B, H, C)
        diagnostics["inner_loss"] = layout.from_chunks(torch.stack(losses), length).detach()
        diagnostics["anchor_norm"] = layout.from_chunks(chunk_norms, length).detach()
    return layout.from_chunks(torch.stack(outputs), length), final


def _contiguous(params: Mapping[str, Tensor]) -> Params:
    return {name: tensor.contiguous() for name, tensor in params.items()}


def _coefficients(
    theta: Tensor, log_momentum: Tensor | None, log_retention: Tensor | None, real: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For every chunk: κ (N, B, H, R, C), the read's coefficients of the carried (M, S) (or M);
    c (N, B, H, C, C) indexed [t, j]; the (R × R) map of the carried sets to the chunk's end
    (N, B, H, R, R); and the gradients' weights at the end (N, B, H, R, C): row C of c (and of
    −θ_j E(j, t))."""
    size = theta.shape[-1]
    lower = torch.ones(size, size, dtype=torch.bool, device=theta.device).tril()
    if log_retention is None:
        keep_between = lower.to(theta.dtype).expand(*theta.shape, size)
        keep_from_start = torch.ones_like(theta)
    else:
        keep_between = _decay_matrix(log_retention, lower)  # F[t, r]
        keep_from_start = log_retention.cumsum(-1).exp()  # λ
    if log_momentum is None:
        gradient_mix = -keep_between * theta[..., None, :]
        end_matrix = keep_from_start[..., -1, None, None]
        return keep_from_start[..., None, :], gradient_mix, end_matrix, gradient_mix[..., -1:, :]
    momentum_between = _decay_matrix(log_momentum, lower)  # E[r, j]
    momentum_from_start = log_momentum.cumsum(-1).exp()  # ν
    adds_momentum = keep_between * real[..., None, :]  # F(r, t), zero where slot r is empty
    momentum_into_weights = (adds_momentum @ momentum_from_start[..., None])[..., 0]  # μ
    gradient_mix = -(adds_momentum @ momentum_between) * theta[..., None, :]
    kappa = torch.stack([keep_from_start, momentum_into_weights], dim=-2)
    last = kappa[..., -1]  # (λ_C, μ_C)
    end_matrix = torch.stack(
        [last, torch.stack([torch.zeros_like(last[..., 1]), momentum_from_start[..., -1]], -1)], -2
    )
    end_rows = torch.stack([gradient_mix[..., -1, :], -momentum_between[..., -1, :] * theta], dim=-2)
    return kappa, gradient_mix, end_matrix, end_rows


def _decay_matrix(log_factor: Tensor, lower: Tensor) -> Tensor:
    """[t, r] = Π_{r<u≤t} exp(log_factor_u) for r ≤ t, else 0: (..., C) -> (..., C, C)."""
    cumulative = log_factor.cumsum(-1)
    gaps = cumulative[..., :, None] - cumulative[..., None, :]
    return gaps.masked_fill(~lower, float("-inf")).exp()
