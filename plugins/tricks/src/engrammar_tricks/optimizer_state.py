"""Editing an optimizer's per-parameter state in place of the parameters: moments reset for some
entries (Darwinian regeneration), moments carried over to a larger parameter (neurogenesis).

Any optimizer whose state tensors are shaped like their parameter (Adam, AdamW, SGD with
momentum, RMSprop, ...) is handled here. An optimizer with another layout (8-bit blocks) handles
it itself through two methods, which :class:`engrammar_tricks.AdamW8bit` has::

    optimizer.reset_state_entries(parameter, mask)      # mask: bool, shaped like the parameter
    optimizer.resize_state(state, resized) -> state     # resized: engrammar.nn.growth.Resized
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from engrammar.nn.growth import Resized
from engrammar.spec import SpecError
from torch import Tensor

from .trick import unwrap_optimizer

__all__ = ["migrate_parameters", "reset_entries"]


def reset_entries(optimizer: Any, parameter: Tensor, mask: Tensor, *, path: str = "") -> None:
    """Zero the optimizer's moments of ``parameter`` where ``mask`` is true."""
    raw = unwrap_optimizer(optimizer)
    state = raw.state.get(parameter)
    if not state:
        return
    own = getattr(raw, "reset_state_entries", None)
    if callable(own):
        own(parameter, mask)
        return
    with torch.no_grad():
        for key, value in state.items():
            if _elementwise(value, parameter):
                value[mask] = 0
            elif isinstance(value, Tensor) and value.numel() > 1:
                raise SpecError(path, f"cannot reset entries of {type(raw).__name__}'s {key!r} state")


def migrate_parameters(optimizer: Any, resized: Iterable[Resized], *, path: str = "") -> None:
    """Put each ``resized.new`` in ``resized.old``'s place in the optimizer, with its state carried
    over: the old entries keep their moments, the new ones start at zero."""
    raw = unwrap_optimizer(optimizer)
    for item in resized:
        found = False
        for group in raw.param_groups:
            params = group["params"]
            for index, parameter in enumerate(params):
                if parameter is item.old:
                    params[index] = item.new
                    found = True
        if not found:
            raise SpecError(path, f"the optimizer does not train {item.name}; it cannot follow its growth")
        state = raw.state.pop(item.old, None)
        if not state:
            continue
        own = getattr(raw, "resize_state", None)
        raw.state[item.new] = own(state, item) if callable(own) else _resized(state, item, type(raw).__name__, path)


def _resized(state: Mapping[str, Any], item: Resized, kind: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in state.items():
        if _elementwise(value, item.old):
            out[key] = item.embed(value)
        elif isinstance(value, Tensor) and value.numel() > 1:
            raise SpecError(path, f"cannot carry {kind}'s {key!r} state over to a larger {item.name}")
        else:
            out[key] = value
    return out


def _elementwise(value: Any, parameter: Tensor) -> bool:
    return isinstance(value, Tensor) and value.is_floating_point() and value.shape == parameter.shape
