"""The states of the memories, per sample; all of it is constant in the sequence length.

Titans' long-term memory (:func:`initial_memory_state`):

- ``weights``: the fast weights M (a dict, per head: (H, d_{l-1}, d_l) per layer);
- ``momentum``: S, same shapes (only with momentum);
- ``anchor``: the weights the current chunk takes its gradients at (only when chunk_size > 1);
- ``position``: tokens of the current chunk seen so far, int64 (only when chunk_size > 1).

TTT layers (:func:`initial_ttt_state`):

- ``weights``: the weights W₀ the current mini-batch started from (its gradients are taken there);
- ``gradient_sum``: Σ η_j ∇ℓ_j over the mini-batch's tokens so far (only when chunk_size > 1);
- ``position``: as above (only when chunk_size > 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .inner_model import select, zeros_like_params

__all__ = ["initial_memory_state", "initial_ttt_state", "reset_state"]


def _expanded(initial_weights: Mapping[str, Tensor], batch_size: int) -> dict[str, Tensor]:
    return {name: w.expand(batch_size, *w.shape) for name, w in initial_weights.items()}


def _position(weights: Mapping[str, Tensor], batch_size: int) -> Tensor:
    first = next(iter(weights.values()))
    return torch.zeros(batch_size, dtype=torch.long, device=first.device)


def initial_memory_state(
    initial_weights: Mapping[str, Tensor], batch_size: int, *, has_momentum: bool, chunk_size: int
) -> dict[str, Any]:
    """Titans: the initial weights (H, ...) expanded to the batch, zero momentum, position 0."""
    weights = _expanded(initial_weights, batch_size)
    state: dict[str, Any] = {"weights": weights}
    if has_momentum:
        state["momentum"] = zeros_like_params(weights)
    if chunk_size > 1:
        state["anchor"] = dict(weights)
        state["position"] = _position(weights, batch_size)
    return state


def initial_ttt_state(initial_weights: Mapping[str, Tensor], batch_size: int, *, chunk_size: int) -> dict[str, Any]:
    """TTT: the initial weights (H, ...) expanded to the batch, an empty gradient sum, position 0."""
    weights = _expanded(initial_weights, batch_size)
    state: dict[str, Any] = {"weights": weights}
    if chunk_size > 1:
        state["gradient_sum"] = zeros_like_params(weights)
        state["position"] = _position(weights, batch_size)
    return state


def reset_state(state: Mapping[str, Any], initial: Mapping[str, Any], mask: Tensor) -> dict[str, Any]:
    """``state`` with the samples where ``mask`` (B,) is true put back to ``initial``."""
    if not bool(mask.any()):
        return dict(state)
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, Mapping):
            out[key] = select(mask, initial[key], value)
        else:
            out[key] = torch.where(mask, initial[key], value)
    return out
