"""A snapshot of everything a module holds, to prove that a call changed none of it.

:func:`snapshot_module` records, for the module and every submodule, each attribute in ``vars()``
(parameters, buffers and submodules included) by identity and, for tensors, by value; containers
(lists, tuples, dicts, sets) and plain objects are followed a few levels down, so an attribute
replaced, added, removed or mutated in place (a list appended to, a tensor written into) shows.
:func:`module_changes` lists the differences between two snapshots, each naming the path::

    attribute 'nodes.mix._tokens' added
    buffer 'running_mean' changed values
    parameter 'router.weight' replaced by another tensor

The snapshot holds a reference to every object it saw, so no identity can be reused meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ModuleSnapshot", "module_changes", "snapshot_module"]

_PLAIN = (str, bytes, int, float, complex, bool, type(None), torch.dtype, torch.device)
_DEPTH = 4  # how far containers and plain objects are followed


class _TensorPrint:
    """A tensor by identity, version-independent values, shape and dtype."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor
        self.values = tensor.detach().clone()

    def difference(self, other: _TensorPrint) -> str | None:
        if self.tensor is not other.tensor:
            return "replaced by another tensor"
        before, after = self.values, other.values
        if before.shape != after.shape or before.dtype != after.dtype:
            return f"changed from {before.dtype} {tuple(before.shape)} to {after.dtype} {tuple(after.shape)}"
        same = before == after
        if before.is_floating_point() or before.is_complex():
            same = same | (before.isnan() & after.isnan())
        return None if bool(same.all()) else "changed values"


class _ObjectPrint:
    """An object by identity only (a module, a function, a frozen value, or one seen too deep)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def difference(self, other: _ObjectPrint) -> str | None:
        return None if self.value is other.value else _replaced(self.value, other.value)


class _ContainerPrint:
    """A container or plain object by identity and, recursively, its contents."""

    def __init__(self, value: Any, contents: Any) -> None:
        self.value = value
        self.contents = contents  # list of prints, or dict of prints, or a frozen copy of a set

    def difference(self, other: _ContainerPrint) -> str | None:
        if self.value is not other.value:
            return _replaced(self.value, other.value)
        return _difference(self.contents, other.contents)


def _replaced(before: Any, after: Any) -> str:
    if type(before) is type(after):
        return f"replaced by another {type(before).__name__}"
    return f"replaced: {type(before).__name__} -> {type(after).__name__}"


def _shown(value: Any) -> str:
    if isinstance(value, _TensorPrint):
        return f"a tensor of shape {tuple(value.values.shape)}"
    if isinstance(value, (_ObjectPrint, _ContainerPrint)):
        return f"a {type(value.value).__name__}"
    return repr(value)


def _difference(before: Any, after: Any) -> str | None:
    if type(before) is not type(after):
        return f"changed from {_shown(before)} to {_shown(after)}"
    if isinstance(before, (_TensorPrint, _ObjectPrint, _ContainerPrint)):
        return before.difference(after)  # type: ignore[arg-type]
    if isinstance(before, list):
        if len(before) != len(after):
            return f"changed length from {len(before)} to {len(after)}"
        for index, (a, b) in enumerate(zip(before, after)):
            found = _difference(a, b)
            if found:
                return f"[{index}] {found}"
        return None
    if isinstance(before, dict):
        if before.keys() != after.keys():
            added, removed = (
                sorted(map(str, after.keys() - before.keys())),
                sorted(map(str, before.keys() - after.keys())),
            )
            return f"changed keys (added {added}, removed {removed})"
        for key in before:
            found = _difference(before[key], after[key])
            if found:
                return f"[{key!r}] {found}"
        return None
    return None if before == after else f"changed from {before!r} to {after!r}"


def _print(value: Any, depth: int, path: frozenset[int]) -> Any:
    if isinstance(value, Tensor):
        return _TensorPrint(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, nn.Module) or callable(value) or depth >= _DEPTH or id(value) in path:
        return _ObjectPrint(value)  # a submodule is compared at its own path
    inner = path | {id(value)}
    if isinstance(value, (list, tuple)):
        return _ContainerPrint(value, [_print(item, depth + 1, inner) for item in value])
    if isinstance(value, Mapping):
        return _ContainerPrint(value, {key: _print(item, depth + 1, inner) for key, item in value.items()})
    if isinstance(value, (set, frozenset)):
        return _ContainerPrint(value, frozenset(value))
    if hasattr(value, "__dict__"):
        return _ContainerPrint(value, {key: _print(item, depth + 1, inner) for key, item in vars(value).items()})
    return _ObjectPrint(value)  # slotted or builtin objects: frozen specs and the like


#: ``{module path: {attribute: print}}``, ``""`` being the module itself.
ModuleSnapshot = dict[str, dict[str, Any]]


def snapshot_module(module: nn.Module) -> ModuleSnapshot:
    """Everything ``module`` and its submodules hold, to compare with :func:`module_changes`."""
    return {
        path: {name: _print(value, 0, frozenset()) for name, value in vars(sub).items()}
        for path, sub in module.named_modules(remove_duplicate=False)
    }


def module_changes(before: ModuleSnapshot, after: ModuleSnapshot) -> list[str]:
    """What differs between two snapshots of one module, one line per change, named by path."""
    changes: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changes.append(f"submodule '{path}' removed")
            continue
        if path not in before:
            changes.append(f"submodule '{path}' added")
            continue
        old, new = before[path], after[path]
        for name in sorted(old.keys() | new.keys()):
            if name in ("_parameters", "_buffers") and name in old and name in new:
                changes.extend(_tensor_changes(name[1:-1], path, old[name], new[name]))
                continue
            where = f"attribute '{_join(path, name)}'"
            if name not in new:
                changes.append(f"{where} removed")
            elif name not in old:
                changes.append(f"{where} added")
            else:
                found = _difference(old[name], new[name])
                if found:
                    changes.append(f"{where} {found}")
    return changes


def _tensor_changes(kind: str, path: str, before: _ContainerPrint, after: _ContainerPrint) -> list[str]:
    old, new = before.contents, after.contents
    changes = [f"{kind} '{_join(path, name)}' added" for name in sorted(new.keys() - old.keys())]
    changes += [f"{kind} '{_join(path, name)}' removed" for name in sorted(old.keys() - new.keys())]
    for name in sorted(old.keys() & new.keys()):
        found = _difference(old[name], new[name])
        if found:
            changes.append(f"{kind} '{_join(path, name)}' {found}")
    return changes


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
