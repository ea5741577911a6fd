"""The component base class: one state protocol for every memory, controller, router and layer.

    y, state = component(x, state=None, resets=None)   # x: (B, T, in_features) -> y: (B, T, out_features)
    y_t, state = component.step(x_t, state)            # x_t: (B, in_features)
    state = component.init_state(batch_size, device=..., dtype=...)

A subclass writes ``_step`` (one time step; the readable reference) and, when it has one, a faster
whole-sequence path ``_sequence``. Resets inside a sequence are handled here for every component:
the sequence is split at the reset times and each piece runs through ``_sequence`` with the reset
samples' state put back to the initial state. A component whose fast path can take resets itself
(a chunked scan, say) overrides ``_sequence_with_resets`` instead.

The module holds parameters and buffers only; state always travels in and out of the call.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from . import typechecking
from .spec import ComponentSpec, SpecError, structure
from .state import State, detach_state, grow_like, reset_where, zeros_like_spec

__all__ = ["Component", "Stateful"]


class Component(nn.Module):
    """Base class of every stateful sequence component.

    Subclasses set ``spec_cls`` (an attrs spec class deriving from :class:`ComponentSpec`),
    implement ``out_features``, ``state_spec`` (when stateful) and ``_step``, and may implement
    ``_sequence`` / ``_sequence_with_resets`` / ``init_state``.
    """

    spec_cls: ClassVar[type[ComponentSpec]] = ComponentSpec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        typechecking.class_defined(cls)  # with the run-time check on, wrap forward/step/init_state

    def __init__(self, spec: ComponentSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__()
        if spec is None or isinstance(spec, Mapping):
            data = dict(spec or {})
            data.update(fields)
            spec = structure(data, self.spec_cls, path=type(self).__name__)
        elif fields:
            spec = structure({**_spec_fields(spec), **fields}, self.spec_cls, path=type(self).__name__)
        if not isinstance(spec, self.spec_cls):
            raise TypeError(f"{type(self).__name__} takes a {self.spec_cls.__name__}, got {type(spec).__name__}")
        if spec.in_features is None:
            raise SpecError(
                f"{type(self).__name__}.in_features",
                "must be set (pass in_features=..., or use the component in a wiring, which infers it)",
            )
        self.spec = spec
        self.in_features: int = spec.in_features

    # ---- what subclasses describe -----------------------------------------------------------

    @property
    def out_features(self) -> int:
        """Width of the output."""
        raise NotImplementedError(f"{type(self).__name__} must define out_features")

    def state_spec(self) -> dict[str, Any]:
        """Names, per-sample shapes and dtypes of the state tensors (nested for composites).

        Stateless components return ``{}``.
        """
        return {}

    def init_state(
        self,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The initial state for ``batch_size`` samples (zeros unless a subclass says otherwise)."""
        device, dtype = self._placement(device, dtype)
        return zeros_like_spec(self.state_spec(), batch_size, device=device, dtype=dtype)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: ``x_t`` (B, in_features) -> (B, out_features). Returns a new state dict."""
        raise NotImplementedError(f"{type(self).__name__} must define _step")

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Whole sequence without resets. Default: the plain loop over ``_step``."""
        outputs = []
        for t in range(x.shape[1]):
            y_t, state = self._step(x[:, t], state)
            outputs.append(y_t)
        return torch.stack(outputs, dim=1), state

    # ---- the public protocol ----------------------------------------------------------------

    def forward(self, x: Tensor, state: State | None = None, resets: Tensor | None = None) -> tuple[Tensor, State]:
        """Run a whole sequence. ``x`` (B, T, in_features); ``resets`` (B, T) bool, optional:
        where true, that sample's state is reset to the initial state before step t."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}: expected x of shape (B, T, {self.in_features}), got {tuple(x.shape)}"
            )
        batch, length = x.shape[0], x.shape[1]
        if state is None:
            state = self.init_state(batch, device=x.device, dtype=x.dtype)
        if length == 0:
            return x.new_zeros(batch, 0, self.out_features), state
        if resets is not None:
            if resets.shape != (batch, length) or resets.dtype != torch.bool:
                raise ValueError(
                    f"{type(self).__name__}: resets must be a bool tensor of shape {(batch, length)}, "
                    f"got {resets.dtype} {tuple(resets.shape)}"
                )
            if bool(resets.any()):
                if type(self)._sequence_with_resets is not Component._sequence_with_resets:
                    return self._sequence_with_resets(x, state, resets)
                return self._segmented(x, state, resets)
        return self._sequence(x, state)

    def step(self, x_t: Tensor, state: State | None = None, reset: Tensor | None = None) -> tuple[Tensor, State]:
        """One time step. ``x_t`` (B, in_features); ``reset`` (B,) bool, optional, applied first."""
        if x_t.dim() != 2 or x_t.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}.step: expected x_t of shape (B, {self.in_features}), got {tuple(x_t.shape)}"
            )
        if state is None:
            state = self.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        elif reset is not None and bool(reset.any()):
            state = self.reset_samples(state, reset, dtype=x_t.dtype)
        return self._step(x_t, state)

    def reset_samples(self, state: State, mask: Tensor, dtype: torch.dtype | None = None) -> State:
        """``state`` with the samples where ``mask`` (B,) is true put back to the initial state.

        A growing cache keeps its length (the other samples still use their slots): the initial
        state is padded in front to it, so the reset samples' slots become padding. Override when
        the initial state cannot simply be swapped in; ``step``, ``forward`` with resets, wirings
        and the ``Stateful`` wrapper all reset through here.
        """
        initial = self.init_state(mask.shape[0], device=mask.device, dtype=dtype or _float_dtype(state))
        return reset_where(state, mask, grow_like(self.state_spec(), initial, state))

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        """Override when the fast path can apply resets itself."""
        raise NotImplementedError

    def _segmented(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        # Split at every time where some sample resets; each piece runs on the fast path.
        any_reset = resets.any(dim=0)
        starts = [0, *[int(t) for t in torch.nonzero(any_reset).flatten().tolist() if t > 0]]
        bounds = [*starts, x.shape[1]]
        outputs = []
        for start, stop in itertools.pairwise(bounds):
            mask = resets[:, start]
            if bool(mask.any()):
                state = self.reset_samples(state, mask, dtype=x.dtype)
            y, state = self._sequence(x[:, start:stop], state)
            outputs.append(y)
        return torch.cat(outputs, dim=1), state

    # ---- helpers ----------------------------------------------------------------------------

    def _placement(
        self, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> tuple[torch.device | str, torch.dtype]:
        """Default device and floating dtype: those of the module's first floating tensor."""
        if device is None or dtype is None:
            for tensor in [*self.parameters(), *self.buffers()]:
                if tensor.is_floating_point():
                    device = tensor.device if device is None else device
                    dtype = tensor.dtype if dtype is None else dtype
                    break
        return (device if device is not None else "cpu"), (dtype or torch.get_default_dtype())

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in _spec_fields(self.spec).items())
        return f"{fields}, out_features={self.out_features}"


typechecking.class_defined(Component)


def _spec_fields(spec: Any) -> dict[str, Any]:
    return {a.name: getattr(spec, a.name) for a in attrs.fields(type(spec))}


class Stateful(nn.Module):
    """Object-style wrapper for users who prefer the state kept for them.

    ``wrapper.state`` is the component's state dict; ``init_state()``, ``reset_state()`` and
    ``detach_state()`` act on it, and calling the wrapper runs the component and keeps the new
    state::

        mem = Stateful(engrammar.build("ema", in_features=8))
        mem.init_state(batch_size=4)
        y = mem(x)            # x (4, T, 8)
        mem.detach_state()    # truncate backpropagation here
    """

    def __init__(self, component: Component) -> None:
        super().__init__()
        self.component = component
        self.state: State | None = None

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        self.state = self.component.init_state(batch_size, device=device, dtype=dtype)
        return self.state

    def reset_state(self, mask: Tensor | None = None) -> None:
        """Back to the initial state: every sample, or those where ``mask`` (B,) is true."""
        if self.state is None:
            return
        if mask is None:
            sample = _first_tensor(self.state)
            self.state = self.component.init_state(
                _batch_size(self.state), device=sample.device, dtype=_float_dtype(self.state)
            )
        else:
            self.state = self.component.reset_samples(self.state, mask)

    def detach_state(self) -> None:
        if self.state is not None:
            self.state = detach_state(self.state)

    def forward(self, x: Tensor, resets: Tensor | None = None) -> Tensor:
        y, self.state = self.component(x, self.state, resets)
        return y

    def step(self, x_t: Tensor, reset: Tensor | None = None) -> Tensor:
        y_t, self.state = self.component.step(x_t, self.state, reset)
        return y_t


def _first_tensor(state: State) -> Tensor:
    for value in state.values():
        if isinstance(value, Mapping):
            found = _first_tensor(value)  # type: ignore[arg-type]
            if found is not None:
                return found
        else:
            return value
    return torch.zeros(0)


def _batch_size(state: State) -> int:
    return int(_first_tensor(state).shape[0]) if state else 0


def _float_dtype(state: State) -> torch.dtype:
    for value in state.values():
        if isinstance(value, Mapping):
            return _float_dtype(value)  # type: ignore[arg-type]
        if value.is_floating_point():
            return value.dtype
    return torch.get_default_dtype()
