"""TTT's inner loop one token at a time, for streaming: the step of :mod:`.naive` with the inner
gradient written out by hand (:meth:`..inner_model.InnerModel.gradients`) instead of ``torch.func``.
Same meaning, same state; one forward and backward of the inner model per token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..inner_model import InnerModel, combine, select, zeros_like_params
from ..state import initial_ttt_state, reset_state

__all__ = ["recurrent_ttt", "ttt_step"]


def ttt_step(
    q_t: Tensor,
    k_t: Tensor,
    v_t: Tensor,
    lr_t: Tensor,
    state: Mapping[str, Any],
    *,
    model: InnerModel,
    token_scale: Tensor,
    norm: tuple[Tensor, Tensor] | None = None,
    chunk_size: int,
) -> tuple[Tensor, dict[str, Any], Tensor]:
    """One token. q_t, k_t: (B, H, d_0); v_t: (B, H, d_L); lr_t: (B, H); token_scale (chunk_size,);
    norm: (γ, β), each (H, d_L). Returns y_t (B, H, d_L), the new state (the given one is not
    modified) and the token's inner loss ℓ_t(W₀) (B, H)."""
    anchor = state["weights"]
    batched_norm = None if norm is None else (norm[0][:, None], norm[1][:, None])
    inputs, deltas, loss = model.gradients(anchor, k_t[:, :, None], v_t[:, :, None], batched_norm)
    step = model.gradient_sum(inputs, deltas, lr_t[..., None])
    if chunk_size > 1:
        gradient_sum = combine([(1.0, state["gradient_sum"]), (1.0, step)])
        position = state["position"] + 1
    else:
        gradient_sum = step
        position = torch.ones(anchor["w1"].shape[0], dtype=torch.long, device=anchor["w1"].device)
    scale = token_scale[position - 1][:, None]
    weights = combine([(1.0, anchor), (-scale, gradient_sum)])
    y_t = model.forward(weights, q_t[:, :, None], batched_norm)[:, :, 0]
    if chunk_size == 1:
        return y_t, {"weights": weights}, loss[..., 0]
    commit = position == chunk_size
    new_state = {
        "weights": select(commit, weights, anchor),
        "gradient_sum": select(commit, zeros_like_params(gradient_sum), gradient_sum),
        "position": torch.where(commit, torch.zeros_like(position), position),
    }
    return y_t, new_state, loss[..., 0]


def recurrent_ttt(
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
    """The whole sequence through :func:`ttt_step`; arguments and results as :func:`.naive.naive_ttt`."""
    batch, length = k.shape[:2]
    start = initial_ttt_state(initial_weights, batch, chunk_size=chunk_size)
    current = dict(start if state is None else state)
    outputs = []
    for t in range(length):
        if resets is not None:
            current = reset_state(current, start, resets[:, t])
        y_t, current, _ = ttt_step(
            q[:, t],
            k[:, t],
            v[:, t],
            lr[:, t],
            current,
            model=model,
            token_scale=token_scale,
            norm=norm,
            chunk_size=chunk_size,
        )
        outputs.append(y_t)
    if not outputs:
        return v.new_zeros(batch, 0, *v.shape[2:]), current
    return torch.stack(outputs, dim=1), current
