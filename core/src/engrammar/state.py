"""State: a (nested) dict of tensors with the batch dimension first, and utilities that work on any.

Every component's state is plain data — ``{"average": Tensor(B, D)}`` for ``ema``, a dict of its
nodes' states for a wiring — so detaching, cloning, resetting, selecting samples and measuring size
are written once here and work for every component, first-party or not.

The public utilities check their arguments at the boundary (beartype, jaxtyping for shapes); the
components' inner loops do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import torch
from beartype import beartype
from jaxtyping import Bool, jaxtyped
from torch import Tensor

__all__ = [
    "State",
    "StateEntry",
    "clone_state",
    "declared_nbytes",
    "detach_state",
    "flatten_state",
    "grow_like",
    "map_state",
    "reset_where",
    "scatter_batch",
    "select_batch",
    "state_nbytes",
    "state_shapes",
    "trim_state",
    "unflatten_state",
    "zeros_like_spec",
]

#: A state: a dict of tensors, batch first, nested dicts for composites.
State = dict[str, Any]
#: A state description: StateEntry leaves, nested dicts for composites.
StateSpec = dict[str, Any]


def _as_shape(value: Iterable[int | str]) -> tuple[int | str, ...]:
    return tuple(v if isinstance(v, str) else int(v) for v in value)


def _check_shape(instance: Any, attribute: Any, shape: tuple[int | str, ...]) -> None:
    for dim in shape:
        if isinstance(dim, str) and not dim.isidentifier():
            raise ValueError(f"shape: a run-time dimension is named by an identifier, got {dim!r}")
        if isinstance(dim, int) and dim < 0:
            raise ValueError(f"shape: sizes must be >= 0, got {dim}")


@attrs.frozen
class StateEntry:
    """Declares one state tensor: its shape without the batch dimension, and its dtype.

    A size in ``shape`` is an int, or a name for a size that changes at run time (a cache that
    grows: ``("cache", 64)``); such a size is 0 in the initial state, and the entries of one
    component that name the same dimension must agree on it (the run-time check holds them to it).
    ``dtype=None`` means "the floating dtype the component runs in"; give a torch dtype name
    (``"int64"``, ``"bool"``) for entries that are not floating point.

    A named size grows by one slot per step seen (reset or not), up to ``max_length`` (None: no
    cap; then the oldest slot is dropped), so its length depends only on the steps since
    ``init_state``. ``count`` names the sibling entry (int64, shape ``()``) counting each sample's
    steps since its last reset: the sample's newest ``min(count, length)`` slots are its own, older
    slots are padding (zeros) — so one sample can reset while the others keep their cache.
    """

    shape: tuple[int | str, ...] = attrs.field(converter=_as_shape, validator=_check_shape)
    dtype: str | None = None
    doc: str = ""
    max_length: int | None = None
    count: str | None = None

    def __attrs_post_init__(self) -> None:
        named = [dim for dim in self.shape if isinstance(dim, str)]
        if len(named) > 1:
            raise ValueError(f"shape: one run-time dimension per entry (the axis that grows), got {named}")
        if not named and (self.max_length is not None or self.count is not None):
            raise ValueError("max_length and count describe a run-time dimension; name one in shape")
        if named and self.count is None:
            raise ValueError(f"count: the entry counting each sample's slots of {named[0]!r} is missing")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length: must be >= 1, got {self.max_length}")

    @property
    def grows(self) -> int | None:
        """Index in ``shape`` of the run-time dimension, or None."""
        return next((axis for axis, dim in enumerate(self.shape) if isinstance(dim, str)), None)

    @property
    def initial_shape(self) -> tuple[int, ...]:
        """The shape in the initial state: run-time dimensions start at 0."""
        return self.shape_after(0)

    def shape_after(self, steps: int) -> tuple[int, ...]:
        """The shape after ``steps`` steps from the initial state."""
        length = steps if self.max_length is None else min(steps, self.max_length)
        return tuple(length if isinstance(dim, str) else dim for dim in self.shape)

    def resolve_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        return float_dtype if self.dtype is None else getattr(torch, self.dtype)


def map_state(fn: Callable[[Tensor], Tensor], state: Mapping[str, Any]) -> State:
    """Apply ``fn`` to every tensor of a nested state, keeping its structure."""
    return {key: map_state(fn, value) if isinstance(value, Mapping) else fn(value) for key, value in state.items()}


def zip_map_state(fn: Callable[..., Tensor], *states: Mapping[str, Any]) -> State:
    """Apply ``fn`` leaf-wise to several states of the same structure."""
    first = states[0]
    out: State = {}
    for key, value in first.items():
        others = [s[key] for s in states[1:]]
        out[key] = zip_map_state(fn, value, *others) if isinstance(value, Mapping) else fn(value, *others)
    return out


def detach_state(state: Mapping[str, Any]) -> State:
    """Same values, no history: gradients stop here (truncated backpropagation)."""
    return map_state(lambda t: t.detach(), state)


def clone_state(state: Mapping[str, Any]) -> State:
    """An independent copy (gradients still flow through it)."""
    return map_state(lambda t: t.clone(), state)


def _as_index(index: Tensor | list[int] | slice) -> Tensor | slice:
    if isinstance(index, slice):
        return index
    return torch.as_tensor(index)


@beartype
def select_batch(state: Mapping[str, Any], index: Tensor | list[int] | slice) -> State:
    """The state of the samples at ``index`` (integer indices, a boolean mask or a slice)."""
    idx = _as_index(index)
    return map_state(lambda t: t[idx], state)


@beartype
def scatter_batch(state: Mapping[str, Any], index: Tensor | list[int], values: Mapping[str, Any]) -> State:
    """A new state equal to ``state`` except that rows ``index`` are replaced by ``values``."""
    idx = _as_index(index)

    def put(current: Tensor, new: Tensor) -> Tensor:
        out = current.clone()
        out[idx] = new.to(dtype=current.dtype)
        return out

    return zip_map_state(put, state, values)


@jaxtyped(typechecker=beartype)
def reset_where(state: Mapping[str, Any], mask: Bool[Tensor, " batch"], initial: Mapping[str, Any]) -> State:
    """Where ``mask`` (shape (B,), bool) is true, that sample's state becomes ``initial``'s."""

    def choose(current: Tensor, init: Tensor) -> Tensor:
        m = mask.reshape(mask.shape[0], *([1] * (current.dim() - 1)))
        return torch.where(m, init.to(dtype=current.dtype), current)

    return zip_map_state(choose, state, initial)


def state_nbytes(state: Mapping[str, Any]) -> int:
    """Total bytes held by the tensors of a state (a growing cache's padding slots included)."""
    total = 0
    for value in state.values():
        total += state_nbytes(value) if isinstance(value, Mapping) else value.numel() * value.element_size()
    return total


def state_shapes(state: Mapping[str, Any]) -> dict[str, Any]:
    """The nested structure of a state with each tensor replaced by its shape tuple."""
    return {
        key: state_shapes(value) if isinstance(value, Mapping) else tuple(value.shape) for key, value in state.items()
    }


def flatten_state(state: Mapping[str, Any], prefix: str = "") -> dict[str, Tensor]:
    """``{"a": {"b": t}}`` -> ``{"a.b": t}`` (for saving states as flat tensor files)."""
    flat: dict[str, Tensor] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_state(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def unflatten_state(flat: Mapping[str, Tensor]) -> State:
    """Inverse of :func:`flatten_state`."""
    state: dict[str, Any] = {}
    for name, tensor in flat.items():
        parts = name.split(".")
        node = state
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = tensor
    return state


def declared_nbytes(state_spec: Mapping[str, Any], *, dtype: torch.dtype = torch.float32, steps: int = 0) -> int:
    """Bytes per sample of a state as declared, after ``steps`` steps (a growing cache at that length)."""
    total = 0
    for entry in state_spec.values():
        if isinstance(entry, Mapping):
            total += declared_nbytes(entry, dtype=dtype, steps=steps)
        else:
            size = torch.empty((), dtype=entry.resolve_dtype(dtype)).element_size()
            total += math.prod(entry.shape_after(steps)) * size
    return total


def grow_like(state_spec: Mapping[str, Any], state: Mapping[str, Any], like: Mapping[str, Any]) -> State:
    """``state`` with every growing entry padded in front with empty (zero) slots to its length in
    ``like``: an initial state made to stand in for some samples of a grown one."""
    out: State = dict(state)
    for key, entry in state_spec.items():
        if isinstance(entry, Mapping):
            out[key] = grow_like(entry, state[key], like[key])
        elif entry.grows is not None:
            axis = entry.grows + 1
            value = state[key]
            missing = like[key].shape[axis] - value.shape[axis]
            if missing > 0:
                padding = value.new_zeros((*value.shape[:axis], missing, *value.shape[axis + 1 :]))
                out[key] = torch.cat([padding, value], dim=axis)
    return out


def trim_state(state_spec: Mapping[str, Any], state: Mapping[str, Any]) -> State:
    """The state with every growing entry cut to the slots that hold something — its newest
    ``min(count, length)`` slots, the most over the batch — and each sample's padding zeroed. Two
    states that mean the same trim to equal tensors, whatever their lengths."""
    out: State = dict(state)
    for key, entry in state_spec.items():
        if isinstance(entry, Mapping):
            out[key] = trim_state(entry, state[key])
        elif entry.grows is not None:
            axis = entry.grows + 1
            value = state[key]
            length = value.shape[axis]
            used = state[entry.count].clamp(max=length)  # (B,)
            keep = int(used.max()) if used.numel() else 0
            age = torch.arange(keep - 1, -1, -1, device=value.device)  # 0: the newest slot
            own = (age < used[:, None]).reshape(-1, *(keep if d == axis else 1 for d in range(1, value.dim())))
            out[key] = torch.where(own, value.narrow(axis, length - keep, keep), value.new_zeros(()))
    return out


def zeros_like_spec(
    state_spec: Mapping[str, Any], batch_size: int, *, device: torch.device | str | None, dtype: torch.dtype
) -> State:
    """A zero state for a (nested) state description."""
    out: State = {}
    for key, entry in state_spec.items():
        if isinstance(entry, Mapping):
            out[key] = zeros_like_spec(entry, batch_size, device=device, dtype=dtype)
        else:
            out[key] = torch.zeros((batch_size, *entry.initial_shape), device=device, dtype=entry.resolve_dtype(dtype))
    return out
