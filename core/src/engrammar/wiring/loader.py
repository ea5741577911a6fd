"""Loading wiring files: ``extends:`` chains and dotted overrides.

A file may start from another one::

    # ntm_small.yaml
    extends: lstm_ntm_base.yaml          # a path relative to this file (or a list of them)
    nodes:
      mem: {memory_size: 16}             # merged into the base's `mem` node
      probe: null                        # removes the base's node `probe`
    out: head

Mappings merge key by key (the extending file wins), any other value (a number, a list such as
``in``) replaces the base's value, and ``null`` removes a key. Overrides given on the command line or
as keyword arguments are dotted paths applied last: ``nodes.mem.memory_size=64``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..spec import SpecError, load_mapping, parse_mapping

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "WIRING_SUFFIXES",
    "apply_overrides",
    "is_wiring_path",
    "load_data",
    "merge",
    "parse_assignment",
    "parse_value",
    "resolve_extends",
]

WIRING_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def is_wiring_path(value: str) -> bool:
    """True when ``value`` names a wiring file rather than a registry name."""
    return value.endswith(WIRING_SUFFIXES) or "/" in value or "\\" in value


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge recursively, ``None`` deletes a key, any other
    value replaces. Neither argument is modified."""
    merged: dict[str, Any] = {k: copy.deepcopy(v) for k, v in base.items()}
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_data(source: str | Path | Traversable, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The plain data of a wiring file (a path, or a file shipped inside a package) with its
    ``extends:`` chain resolved (no overrides applied).

    ``use:`` values naming other wiring files are made absolute (relative to the file using them)."""
    directory: Path | Traversable | None
    if isinstance(source, (str, Path)):
        path = Path(source).resolve()
        key, name, directory = str(path), path.name, path.parent
        data = load_mapping(path)
        _absolute_uses(data, directory)
    else:  # a file inside a package (importlib.resources) that is not on the file system
        key, name, directory = str(source), source.name, getattr(source, "parent", None)
        data = parse_mapping(source.read_text(encoding="utf-8"), Path(name).suffix.lower(), origin=key)
    return resolve_extends(data, directory, origin=name, _chain=(*_chain, key))


def resolve_extends(
    data: Mapping[str, Any],
    directory: Path | Traversable | None,
    *,
    origin: str = "",
    _chain: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``data`` laid over the files its ``extends:`` names (paths relative to ``directory``; for a
    mapping written in Python, the working directory). The one place ``extends`` is resolved, for
    files, packaged files and mappings alike; a chain that comes back to a file is an error."""
    data = dict(data)
    parents = data.pop("extends", None)
    if parents is None:
        return data
    where = f"{origin}: extends" if origin else "extends"
    if isinstance(parents, (str, Path)):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, (str, Path)) for p in parents):
        raise SpecError(where, f"expected a file path or a list of them, got {parents!r}")
    if directory is None:
        raise SpecError(where, "a wiring inside a package that is not a folder cannot extend another file")
    merged: dict[str, Any] = {}
    for parent in parents:
        parent_file = directory / str(parent) if isinstance(directory, Path) else directory.joinpath(str(parent))
        if isinstance(parent_file, Path):
            parent_file = parent_file.resolve()
        if not parent_file.is_file():
            raise SpecError(where, f"no such file {str(parent)!r} (looked at {parent_file})")
        if str(parent_file) in _chain:
            cycle = " -> ".join(Path(p).name for p in (*_chain, str(parent_file)))
            raise SpecError(where, f"extends cycle: {cycle}")
        merged = merge(merged, load_data(parent_file, _chain))
    return merge(merged, data)


def _absolute_uses(data: dict[str, Any], base_dir: Path) -> None:
    nodes = data.get("nodes")
    if not isinstance(nodes, Mapping):
        return
    for node in nodes.values():
        if isinstance(node, dict) and isinstance(node.get("use"), str) and is_wiring_path(node["use"]):
            node["use"] = str((base_dir / node["use"]).resolve())


def parse_value(text: str) -> Any:
    """A command-line value parsed as YAML: ``3`` -> 3, ``true`` -> True, ``[a, b]`` -> a list."""
    import yaml

    from ..spec import load_yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"nodes.mem.memory_size=64"`` -> ``("nodes.mem.memory_size", 64)``."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise SpecError(item, "expected KEY=VALUE (a dotted key such as nodes.mem.memory_size=64)")
    return key.strip(), parse_value(value.strip())


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """``data`` with dotted-key overrides applied: ``{"nodes.mem.memory_size": 64}`` or
    ``["nodes.mem.memory_size=64"]``. A value ``None`` removes the key. The path up to the last key
    must exist (so a typo in a node name is an error, not a new node), except under ``nodes``, where a
    whole new node may be added (``nodes.probe={use: linear, ...}``)."""
    if not isinstance(overrides, Mapping):
        overrides = dict(parse_assignment(item) for item in overrides)
    result = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        if not all(keys):
            raise SpecError(dotted, "empty part in dotted key")
        target: Any = result
        for depth, key in enumerate(keys[:-1]):
            if not isinstance(target, dict) or key not in target:
                where = ".".join(keys[: depth + 1])
                known = ", ".join(map(str, target)) if isinstance(target, dict) else "nothing"
                raise SpecError(dotted, f"override path {where!r} does not exist (there: {known})")
            target = target[key]
        if not isinstance(target, dict):
            raise SpecError(dotted, f"cannot set a key inside {type(target).__name__}")
        last = keys[-1]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return result
