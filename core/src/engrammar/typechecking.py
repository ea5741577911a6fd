"""Opt-in run-time checks of the state protocol, at every call of every component.

    ENGRAMMAR_TYPECHECK=1 python train.py      # on for the whole process (read at import)
    engrammar.typecheck(True)                   # on from here (False: off)
    with engrammar.typecheck():                 # on inside the block, as before after it
        y, state = model(x)

With the check on, ``forward``, ``step`` and ``init_state`` of every :class:`Component` — first
party, third party, registered at run time, or a node inside a wiring (the wiring checks the
``_step`` of each node it runs step by step) — check what goes in and what comes out against the
component's declaration: ``x`` (B, T, in_features) -> output (B, T, out_features), ``x_t``
(B, in_features) -> (B, out_features), ``resets`` (B, T) / ``reset`` (B,) bool, every incoming and
returned state tensor against ``state_spec()`` (entries, per-sample shape, declared dtype), the
output in the input's floating dtype, and one batch size everywhere. A breach raises
:class:`TypecheckError`, one line naming the component, the call and the tensor::

    MyMemory.step: mem.state.usage (returned): expected shape (4, 16), got (4, 15)

jaxtyping does the tensor checks: each call builds hints such as ``Float32[Tensor, "B T 8"]`` from
the declaration and checks the call's tensors in one jaxtyping memo, so ``B`` and ``T`` bind on
``x`` and every other tensor of the call must agree with them (and entries that share a run-time
dimension name, such as a cache length, must agree with each other). beartype checks the plain
types: a ``(Tensor, Mapping)`` pair returned, an ``int`` batch size, a ``torch.dtype``.

Off, the check costs nothing: turning it on wraps ``forward``/``step``/``init_state`` in every
Component class (and in each class defined while it is on); turning it off puts the original
functions back. The switch is process-wide. Under autocast the floating dtypes are not compared
(autocast changes them by design); shapes still are.
"""

from __future__ import annotations

import functools
import operator
import os
import re
import threading
from collections.abc import Callable, Mapping
from types import FunctionType, TracebackType
from typing import TYPE_CHECKING, Any, SupportsIndex

import torch
from beartype.door import is_bearable
from jaxtyping import AbstractDtype, Float, Shaped, jaxtyped
from torch import Tensor, nn

if TYPE_CHECKING:
    from .component import Component

__all__ = ["ENV_VAR", "TypecheckError", "checked_inner_step", "typecheck", "typecheck_enabled"]

#: The environment variable read at import: 1/true/yes/on turns the check on, 0/false/no/off or
#: unset leaves it off.
ENV_VAR = "ENGRAMMAR_TYPECHECK"

StepFn = Callable[[Tensor, Mapping[str, Any]], tuple[Tensor, Any]]
_STATE = Mapping[str, Any] | None
_TENSOR = Tensor | None


class TypecheckError(ValueError, TypeError):
    """A component broke its declaration at run time (raised only while the check is on).

    ``component`` is the module whose call broke it, ``call`` one of ``forward``, ``step``,
    ``init_state``, ``tensor`` what is wrong (``"output"``, ``"state.usage (returned)"``),
    ``problem`` expected against got, and ``node_path`` where the component sits inside the
    outermost checked component (``"mem"``, ``"block.mem"``; empty when called directly).
    A ValueError (and a TypeError), so code that catches either for bad inputs keeps working.
    """

    def __init__(self, component: nn.Module, call: str, tensor: str, problem: str) -> None:
        super().__init__(problem)
        self.component = component
        self.call = call
        self.tensor = tensor
        self.problem = problem
        self.node_path = ""

    def __str__(self) -> str:
        where = f"{self.node_path}." if self.node_path else ""
        return f"{type(self.component).__name__}.{self.call}: {where}{self.tensor}: {self.problem}"

    def locate(self, root: nn.Module) -> None:
        """Set ``node_path`` to the component's place under ``root`` (node names, no ``nodes.``)."""
        for name, module in root.named_modules():
            if module is self.component and name:
                self.node_path = _node_path(root, name)
                return


def _node_path(root: nn.Module, name: str) -> str:
    # A wiring keeps its nodes in a ModuleDict called ``nodes``; users know them by node name only.
    parts, module = [], root
    for part in name.split("."):
        child = getattr(module, part)
        if not (part == "nodes" and isinstance(child, nn.ModuleDict)):
            parts.append(part)
        module = child
    return ".".join(parts)


# ---- the switch ---------------------------------------------------------------------------------


def _from_environment() -> bool:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{ENV_VAR} must be 1 or 0 (or true/false, yes/no, on/off), got {value!r}")


_enabled = _from_environment()


def typecheck_enabled() -> bool:
    """Whether the run-time check is on."""
    return _enabled


class _Restore:
    """What :func:`typecheck` returns: the switch is already set; leaving a ``with`` block sets it
    back to what it was before."""

    def __init__(self, previous: bool) -> None:
        self.previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _set(self.previous)


def typecheck(enabled: bool = True) -> _Restore:
    """Turn the run-time check on (or off, with ``False``) for the whole process, now.

    Usable as a context manager: ``with engrammar.typecheck(): ...`` restores the previous setting
    on exit.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"typecheck(enabled): expected True or False, got {enabled!r}")
    previous = _enabled
    _set(enabled)
    return _Restore(previous)


def _set(enabled: bool) -> None:
    global _enabled
    if enabled == _enabled:
        return
    _enabled = enabled
    from .component import Component  # here, not at the top: component.py imports this module

    pending: list[type] = [Component]
    while pending:
        cls = pending.pop()
        (wrap_class if enabled else unwrap_class)(cls)
        pending.extend(cls.__subclasses__())


# ---- wrapping the classes -----------------------------------------------------------------------


def class_defined(cls: type) -> None:
    """Called for Component and each subclass when it is defined: wrap it if the check is on."""
    if _enabled:
        wrap_class(cls)


def wrap_class(cls: type) -> None:
    """Replace the protocol methods that ``cls`` itself defines by checked ones (idempotent)."""
    for name, make in _WRAPPERS.items():
        original = cls.__dict__.get(name)
        if isinstance(original, FunctionType) and not getattr(original, "_engrammar_checked", False):
            setattr(cls, name, make(original))


def unwrap_class(cls: type) -> None:
    """Put back the methods :func:`wrap_class` replaced."""
    for name in _WRAPPERS:
        current = cls.__dict__.get(name)
        if getattr(current, "_engrammar_checked", False):
            setattr(cls, name, current.__wrapped__)  # type: ignore[union-attr]


class _Active(threading.local):
    """The checked calls under way in this thread, innermost last: a method that calls its
    parent class's version (``super().forward(...)``) is checked once, at the outer call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []


_ACTIVE = _Active()


def _reentered(component: nn.Module, call: str) -> bool:
    calls = _ACTIVE.calls
    return bool(calls) and calls[-1] == (id(component), call)


def _run(component: nn.Module, call: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    calls = _ACTIVE.calls
    calls.append((id(component), call))
    try:
        return fn(*args, **kwargs)
    except TypecheckError as err:
        if err.component is not component:
            err.locate(component)  # the outermost checked call names the node path last
        raise
    finally:
        calls.pop()


def _wrap_forward(original: FunctionType) -> Callable[..., Any]:
    @functools.wraps(original)
    def forward(self: Component, x: Any, state: Any = None, resets: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _reentered(self, "forward"):
            return original(self, x, state, resets, *args, **kwargs)
        check = _Call(self, "forward")
        check.arguments(
            x=(x, Tensor, "a tensor"),
            state=(state, _STATE, "a dict or None"),
            resets=(resets, _TENSOR, "a tensor or None"),
        )
        sequence = ("B", "T")
        with jaxtyped("context"):
            check.inputs(x, sequence, state, resets)
        result = _run(self, "forward", original, self, x, state, resets, *args, **kwargs)
        with jaxtyped("context"):
            check.outputs(x, sequence, result)
        return result

    return _mark(forward)


def _wrap_step(original: FunctionType) -> Callable[..., Any]:
    @functools.wraps(original)
    def step(self: Component, x_t: Any, state: Any = None, reset: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _reentered(self, "step"):
            return original(self, x_t, state, reset, *args, **kwargs)
        return _checked_step(self, "step", original, (self, x_t, state, reset, *args), kwargs, x_t, state, reset)

    return _mark(step)


def _wrap_init_state(original: FunctionType) -> Callable[..., Any]:
    @functools.wraps(original)
    def init_state(self: Component, batch_size: Any, device: Any = None, dtype: Any = None, **kwargs: Any) -> Any:
        if _reentered(self, "init_state"):
            return original(self, batch_size, device, dtype, **kwargs)
        check = _Call(self, "init_state")
        check.arguments(
            batch_size=(batch_size, SupportsIndex, "an int"),
            device=(device, torch.device | str | int | None, "a torch.device, str, int or None"),
            dtype=(dtype, torch.dtype | None, "a torch.dtype or None"),
        )
        if isinstance(batch_size, bool):  # an int to Python, not a size to torch
            raise TypecheckError(self, "init_state", "batch_size", "expected an int, got bool")
        if operator.index(batch_size) < 0:
            raise TypecheckError(self, "init_state", "batch_size", f"expected a size >= 0, got {batch_size}")
        state = _run(self, "init_state", original, self, batch_size, device, dtype, **kwargs)
        check.kind("state", state, Mapping[str, Any], "a dict of tensors")
        float_dtype = dtype if dtype is not None else self._placement(device, None)[1]
        with jaxtyped("context"):
            check.state("state", state, self.state_spec(), float_dtype, "", operator.index(batch_size))
        return state

    return _mark(init_state)


def _mark(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    wrapper._engrammar_checked = True  # type: ignore[attr-defined]
    return wrapper


_WRAPPERS: dict[str, Callable[[FunctionType], Callable[..., Any]]] = {
    "forward": _wrap_forward,
    "step": _wrap_step,
    "init_state": _wrap_init_state,
}


def _checked_step(
    component: Component,
    call: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    x_t: Any,
    state: Any,
    reset: Any,
) -> Any:
    check = _Call(component, call)
    check.arguments(
        x_t=(x_t, Tensor, "a tensor"),
        state=(state, _STATE, "a dict or None"),
        reset=(reset, _TENSOR, "a tensor or None"),
    )
    with jaxtyped("context"):
        check.inputs(x_t, ("B",), state, reset)
    result = _run(component, call, fn, *args, **kwargs)
    with jaxtyped("context"):
        check.outputs(x_t, ("B",), result)
    return result


def checked_inner_step(component: Component) -> StepFn:
    """``component._step`` with the ``step`` checks, for a wiring that runs its nodes step by step
    (it calls ``_step`` directly, past the public ``step``)."""
    inner = component._step

    def step(x_t: Tensor, state: Mapping[str, Any]) -> tuple[Tensor, Any]:
        return _checked_step(component, "step", inner, (x_t, state), {}, x_t, state, None)  # type: ignore[no-any-return]

    return step


# ---- the checks of one call ---------------------------------------------------------------------


class _AnyFloat:
    """Marker: any floating dtype (under autocast, where dtypes change by design)."""


_ANY_FLOAT = _AnyFloat()
DtypeRule = torch.dtype | _AnyFloat | None  # exact, any floating, anything


@functools.cache
def _exact_dtype(name: str) -> type[AbstractDtype]:
    return type(f"Dtype_{name}", (AbstractDtype,), {"dtypes": [name]})


@functools.lru_cache(maxsize=4096)
def _hint(rule_key: str, dims: str) -> Any:
    """A jaxtyping hint, made once per dtype rule and dimension string."""
    if rule_key == "*":
        return Shaped[Tensor, dims]
    if rule_key == "float":
        return Float[Tensor, dims]
    return _exact_dtype(rule_key)[Tensor, dims]


def _rule_key(rule: DtypeRule) -> str:
    if rule is None:
        return "*"
    if isinstance(rule, _AnyFloat):
        return "float"
    return str(rule).removeprefix("torch.")


def _describe_rule(rule: DtypeRule) -> str:
    return "a floating dtype" if isinstance(rule, _AnyFloat) else str(rule).removeprefix("torch.")


def _rule_matches(rule: DtypeRule, dtype: torch.dtype) -> bool:
    if rule is None:
        return True
    if isinstance(rule, _AnyFloat):
        return dtype.is_floating_point
    return dtype == rule


_NOT_NAME = re.compile(r"\W")


class _Call:
    """The checks of one forward/step/init_state call of one component."""

    def __init__(self, component: Component, call: str) -> None:
        self.component = component
        self.call = call
        self.sizes: dict[str, int] = {}  # B and T as bound on x, for the messages
        self.names: dict[str, str] = {}  # jaxtyping name of a run-time dimension -> declared name

    def error(self, tensor: str, problem: str) -> TypecheckError:
        return TypecheckError(self.component, self.call, tensor, problem)

    # -- plain types (beartype) --

    def kind(self, name: str, value: Any, hint: Any, expected: str) -> None:
        if not is_bearable(value, hint):
            raise self.error(name, f"expected {expected}, got {type(value).__name__}")

    def arguments(self, **checks: tuple[Any, Any, str]) -> None:
        for name, (value, hint, expected) in checks.items():
            self.kind(name, value, hint, expected)

    # -- tensors (jaxtyping, in the caller's memo) --

    def tensor(self, name: str, value: Any, dims: tuple[int | str, ...], rule: DtypeRule) -> None:
        text = " ".join(str(d) for d in dims)
        if isinstance(value, Tensor) and isinstance(value, _hint(_rule_key(rule), text)):
            return
        if not isinstance(value, Tensor):
            raise self.error(name, f"expected a tensor, got {type(value).__name__}")
        if not _rule_matches(rule, value.dtype):
            raise self.error(
                name, f"expected dtype {_describe_rule(rule)}, got {str(value.dtype).removeprefix('torch.')}"
            )
        expected = tuple(self.sizes.get(d, self.names.get(d, d)) if isinstance(d, str) else d for d in dims)
        problem = f"expected shape {_shape_text(expected)}, got {tuple(value.shape)}"
        growing = [d for d in dims if isinstance(d, str) and d in self.names]
        if growing:  # jaxtyping says which run-time size it bound on an earlier entry
            reason = _hint(_rule_key(rule), text).__instancecheck_str__(value)
            for internal in growing:
                reason = reason.replace(internal, self.names[internal])
            problem += f" ({reason})"
        raise self.error(name, problem)

    def state(
        self, label: str, state: Any, spec: Mapping[str, Any], rule: DtypeRule, suffix: str, batch: int | str = "B"
    ) -> None:
        """Every entry of ``spec`` present in ``state`` (and nothing else), each tensor (B, *shape)."""
        if not isinstance(state, Mapping):
            raise self.error(label + suffix, f"expected a dict of tensors, got {type(state).__name__}")
        missing = [key for key in spec if key not in state]
        extra = [key for key in state if key not in spec]
        if missing or extra:
            problems = [f"missing entries {missing}"] if missing else []
            problems += [f"entries not declared {extra}"] if extra else []
            raise self.error(label + suffix, f"{'; '.join(problems)} (declared: {list(spec)})")
        for key, entry in spec.items():
            name = f"{label}.{key}"
            if isinstance(entry, Mapping):
                self.state(name, state[key], entry, rule, suffix, batch)
                continue
            entry_rule = rule if entry.dtype is None else getattr(torch, entry.dtype)
            dims = tuple(self._dimension(label, d) for d in entry.shape)
            self.tensor(name + suffix, state[key], (batch, *dims), entry_rule)

    def _dimension(self, scope: str, dim: int | str) -> int | str:
        if isinstance(dim, int):
            return dim
        # A size that changes at run time: one jaxtyping name per component's state, so the
        # entries that share it must agree (a cache's keys and values).
        name = "grow_" + _NOT_NAME.sub("_", f"{scope}_{dim}")
        self.names[name] = dim
        return name

    # -- whole calls --

    def bind(self, x: Tensor, sequence: tuple[str, ...]) -> None:
        # B and T as x has them, for the messages (jaxtyping binds them itself in its memo).
        self.sizes = dict(zip(sequence, x.shape, strict=False)) if x.dim() == len(sequence) + 1 else {}

    def inputs(self, x: Tensor, sequence: tuple[str, ...], state: Any, resets: Any) -> None:
        component = self.component
        self.bind(x, sequence)
        self.tensor("x" if len(sequence) == 2 else "x_t", x, (*sequence, component.in_features), None)
        if resets is not None:
            self.tensor("resets" if len(sequence) == 2 else "reset", resets, sequence, torch.bool)
        if state is not None:
            self.state("state", state, component.state_spec(), _state_rule(component, x), " (incoming)")

    def outputs(self, x: Tensor, sequence: tuple[str, ...], result: Any) -> None:
        component = self.component
        self.kind("result", result, tuple[Tensor, Mapping[str, Any]], "a pair (output tensor, state dict)")
        y, state = result
        self.bind(x, sequence)
        self.tensor("x" if len(sequence) == 2 else "x_t", x, (*sequence, component.in_features), None)
        self.tensor("output", y, (*sequence, component.out_features), _output_rule(x))
        self.state("state", state, component.state_spec(), _state_rule(component, x), " (returned)")


def _autocast(x: Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type)


def _output_rule(x: Tensor) -> DtypeRule:
    if not x.is_floating_point():
        return None
    return _ANY_FLOAT if _autocast(x) else x.dtype


def _state_rule(component: Component, x: Tensor) -> DtypeRule:
    """Undeclared-dtype state entries follow the input's floating dtype (the module's otherwise)."""
    if _autocast(x):
        return _ANY_FLOAT
    return x.dtype if x.is_floating_point() else component._placement(None, None)[1]


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
