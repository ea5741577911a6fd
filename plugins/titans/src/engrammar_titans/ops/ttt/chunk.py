"""TTT's inner loop in chunks (mini-batches): the dual form, for whole sequences.

Same meaning as :mod:`.naive` (read it for the symbols). Every gradient of a mini-batch is taken
at W₀, so its b token gradients G_j come from one batched forward and backward of the inner
model, and the weights every token reads through are

    W_t = W₀ − e_t Σ₀ − Σ_{j ≤ t} e_t η_j G_j          Σ₀: the gradient sum carried into the chunk

a mix of two carried weight sets and the chunk's gradients with weights c(t, j) = −e_t η_j (j ≤ t).
:meth:`..inner_model.InnerModel.read_through` reads f(q_t; W_t) without forming W_t — for the
linear inner model this is the TTT paper's dual form, y = q W₀ − (e ⊙ tril(η ⊙ (q kᵀ + 1))) δ
before the layer norm; here the same holds layer by layer for the MLP. At the end of a full
mini-batch W₀ ← W₀ − e_b (Σ₀ + Σ_j η_j G_j). Only this runs chunk after chunk.

Empty slots of the :class:`..layout.ChunkLayout` have η = 0: they add nothing to the sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..inner_model import InnerModel, Params, mix, select, stack, unstack, weight_norm
from ..layout import ChunkLayout
from ..state import initial_ttt_state

__all__ = ["chunk_ttt"]


def chunk_ttt(
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
    diagnostics: dict[str, Tensor] | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """The whole sequence in mini-batches of ``chunk_size`` tokens; arguments and results as
    :func:`.naive.naive_ttt`. When ``diagnostics`` is a dict, it receives each token's inner loss
    ℓ_t(W₀) as ``inner_loss`` and the norm of its W₀ (all layers) as ``anchor_norm``, each (B, T, H)."""
    batch, length = k.shape[:2]
    start = initial_ttt_state(initial_weights, batch, chunk_size=chunk_size)
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
    eta = layout.to_chunks(lr)  # (N, B, H, C), 0 in empty slots
    scale = token_scale.to(k.dtype)  # e_t, (C,)
    lower = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=k.device).tril()
    mixing = (-scale[:, None] * eta[..., None, :]).masked_fill(~lower, 0.0)  # (N, B, H, C, C)
    kappa, end_matrix, end_rows = _coefficients(eta, scale, layout.commits, has_sum=chunk_size > 1)
    batched_norm = None if norm is None else (norm[0][:, None], norm[1][:, None])

    # the carried weight sets, stacked: (W₀, Σ) for mini-batches, W₀ alone when every token commits
    has_sum = chunk_size > 1
    carry = stack([current["weights"], current["gradient_sum"]] if has_sum else [current["weights"]])
    initial_carry = stack([start["weights"], start["gradient_sum"]] if has_sum else [start["weights"]])
    resets_in_chunk = layout.resets.any(1).tolist()
    outputs, losses, norms = [], [], []
    # unbound once: indexing chunk n inside the loop would cost a full-size zero fill per chunk in
    # the backward pass
    per_chunk = zip(*(x.unbind(0) for x in (queries, keys, values, mixing, end_matrix, end_rows)))
    for n, (queries_n, keys_n, values_n, mixing_n, end_matrix_n, end_rows_n) in enumerate(per_chunk):
        if resets_in_chunk[n]:
            carry = select(layout.resets[n], initial_carry, carry)
        anchor = unstack(carry, 0)
        inputs, deltas, loss = model.gradients(anchor, keys_n, values_n, batched_norm)
        losses.append(loss)
        if diagnostics is not None:
            norms.append(weight_norm(anchor))
        outputs.append(model.read_through(queries_n, (kappa, carry), mixing_n, inputs, deltas, batched_norm))
        carry = mix(end_matrix_n, carry, plus=model.gradient_sum(inputs, deltas, end_rows_n))

    final: dict[str, Any] = {"weights": _contiguous(unstack(carry, 0))}
    if has_sum:
        final["gradient_sum"] = _contiguous(unstack(carry, 1))
        final["position"] = layout.final_position
    if diagnostics is not None:
        chunk_norms = torch.stack(norms)[..., None].expand(*torch.stack(losses).shape)  # (N, B, H, C)
        diagnostics["inner_loss"] = layout.from_chunks(torch.stack(losses), length).detach()
        diagnostics["anchor_norm"] = layout.from_chunks(chunk_norms, length).detach()
    return layout.from_chunks(torch.stack(outputs), length), final


def _contiguous(params: Mapping[str, Tensor]) -> Params:
    return {name: tensor.contiguous() for name, tensor in params.items()}


def _coefficients(eta: Tensor, scale: Tensor, commits: Tensor, *, has_sum: bool) -> tuple[Tensor, Tensor, Tensor]:
    """κ (R, C) for the carried (W₀, Σ): (1, −e_t); and per chunk and sample the map of the carried
    sets to the chunk's end (N, B, H, R, R) and the gradients' weights there (N, B, H, R, C).
    A chunk that commits ends with W₀ − e_C (Σ + Σ_j η_j G_j) and an empty sum; one that does not
    (the last, partial chunk) keeps W₀ and adds to the sum."""
    if not has_sum:  # every token commits: W₀ ← W₀ − e_1 η_t G_t
        return torch.ones_like(scale)[None], torch.ones_like(eta[..., :1, None]), -scale[-1] * eta[..., None, :]
    commit = commits[:, :, None].to(eta.dtype)  # (N, B, 1)
    last = scale[-1]
    zero, one = torch.zeros_like(commit), torch.ones_like(commit)
    end_matrix = torch.stack(
        [torch.stack([one, -last * commit], -1), torch.stack([zero, 1.0 - commit], -1)], -2
    ).expand(*eta.shape[:3], 2, 2)
    end_rows = torch.stack([-last * commit[..., None] * eta, (1.0 - commit[..., None]) * eta], dim=-2)
    kappa = torch.stack([torch.ones_like(scale), -scale])
    return kappa, end_matrix, end_rows
