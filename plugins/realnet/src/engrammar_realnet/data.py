"""Data helpers of RealNet's documentation (``realnet.utils.data``): any array to a tensor, and raw
features onto the network's neurons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from engrammar.spec import SpecError
from torch import Tensor

__all__ = ["prepare_input", "to_tensor"]


def to_tensor(data: Any, device: str | torch.device = "cpu") -> Tensor:
    """``data`` (a tensor, numpy array, list, int or float) as a tensor on ``device``: floating
    values as float32 (a float tensor keeps its dtype), integers as int64 (token ids, class labels),
    booleans as bool."""
    if isinstance(data, Tensor):
        return data.to(device)
    try:
        tensor = torch.as_tensor(data)
    except (TypeError, ValueError, RuntimeError) as error:
        raise SpecError("data", f"cannot be made a tensor ({type(data).__name__}): {error}") from None
    if tensor.is_floating_point():
        tensor = tensor.float()
    elif tensor.dtype != torch.bool:
        tensor = tensor.long()
    return tensor.to(device)


def prepare_input(
    input_features: Any, model_input_ids: Sequence[int], num_neurons: int, device: str | torch.device = "cpu"
) -> tuple[Tensor, int]:
    """Raw features placed on the input neurons of a network of ``num_neurons``: (B, F) gives the
    drive of one step (B, N); a sequence (B, T, F) gives one drive per step (B, T, N). Feature k goes
    to neuron ``model_input_ids[k]``, every other neuron gets zero. Returns ``(drive, batch_size)``;
    ``RealNet`` accepts the drive in place of the features."""
    x = to_tensor(input_features, device).float()
    ids = list(model_input_ids)
    if x.dim() not in (2, 3):
        raise SpecError("input_features", f"must be (B, F) or (B, T, F), got shape {tuple(x.shape)}")
    if x.shape[-1] != len(ids):
        raise SpecError("input_features", f"has {x.shape[-1]} features for {len(ids)} input neurons")
    if any(not 0 <= i < num_neurons for i in ids):
        raise SpecError("model_input_ids", f"indices must be in 0..{num_neurons - 1}, got {ids}")
    drive = x.new_zeros(*x.shape[:-1], num_neurons)
    drive[..., ids] = x
    return drive, int(x.shape[0])
