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

from ..inner_model import InnerModel, Params, combine, select, zeros_like_params
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
    inner_loss: list[Tensor] | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """The whole sequence in mini-batches of ``chunk_size`` tokens; arguments and results as
    :func:`.naive.naive_ttt`. When ``inner_loss`` is a list, each token's inner loss ℓ_t(W₀)
    (B, T, H) is appended to it."""
    batch, length = k.shape[:2]
    start = initial_ttt_state(initial_weights, batch, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    if length == 0:
        if inner_loss is not None:
            inner_loss.append(v.new_zeros(batch, 0, k.shape[2]))
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    position = current.get("position", torch.zeros(batch, dtype=torch.long, device=k.device))
    layout = ChunkLayout.plan(position, resets, length, chunk_size)
    queries, keys, values = (layout.to_chunks(x) for x in (q, k, v))  # (N, B, H, C, d)
    eta = layout.to_chunks(lr)  # (N, B, H, C), 0 in empty slots
    scale = token_scale.to(k.dtype)  # e_t, (C,)
    lower = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=k.device).tril()
    mixing = (-scale[:, None] * eta[..., None, :]).masked_fill(~lower, 0.0)  # (N, B, H, C, C)
    carry_scale = -scale.expand(*eta.shape[1:])  # (B, H, C)
    ones = torch.ones_like(carry_scale)
    batched_norm = None if norm is None else (norm[0][:, None], norm[1][:, None])

    anchor: Params = current["weights"]
    gradient_sum: Params | None = current.get("gradient_sum")
    resets_in_chunk = layout.resets.any(1).tolist()
    outputs, losses = [], []
    for n in range(layout.num_chunks):
        if resets_in_chunk[n]:
            restart = layout.resets[n]
            anchor = select(restart, start["weights"], anchor)
            if gradient_sum is not None:
                gradient_sum = select(restart, start["gradient_sum"], gradient_sum)
        inputs, deltas, loss = model.gradients(anchor, keys[n], values[n], batched_norm)
        losses.append(loss)
        carried: list[tuple[Tensor, Mapping[str, Tensor]]] = [(ones, anchor)]
        if gradient_sum is not None:
            carried.append((carry_scale, gradient_sum))
        outputs.append(model.read_through(queries[n], carried, mixing[n], inputs, deltas, batched_norm))
        chunk_sum = model.gradient_sum(inputs, deltas, eta[n])
        total = chunk_sum if gradient_sum is None else combine([(1.0, gradient_sum), (1.0, chunk_sum)])
        committed = combine([(1.0, anchor), (-scale[-1], total)])
        if gradient_sum is None:  # chunk_size 1: every token commits
            anchor = committed
        else:
            commit = layout.commits[n]
            anchor = select(commit, committed, anchor)
            gradient_sum = select(commit, zeros_like_params(total), total)

    final: dict[str, Any] = {"weights": anchor}
    if gradient_sum is not None:
        final["gradient_sum"] = gradient_sum
        final["position"] = layout.final_position
    if inner_loss is not None:
        inner_loss.append(layout.from_chunks(torch.stack(losses), length))
    return layout.from_chunks(torch.stack(outputs), length), final
