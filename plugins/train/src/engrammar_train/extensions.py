"""Tricks and loggers, enabled by name.

Both are *extensions*: classes that implement the training hooks of :mod:`engrammar.hooks` with
``@hookimpl`` and take their options as a spec, like components (a ``spec_cls`` made with
:func:`engrammar.spec.spec`, and a constructor taking that spec; a class without ``spec_cls`` takes
no options). They differ in where they are found and where they run:

- tricks are registry entries of kind ``tricks`` (entry-point group ``engrammar.tricks``) and run
  on every process (they change gradients and parameters);
- loggers are found in the entry-point group ``engrammar.loggers`` and run on the first process only.

An extension is written ``name``, ``name:key=value,key=value`` (values read as YAML: ``0.5``,
``true``, ``[1, 2]``) or ``{"use": name, key: value}``, or given as a ready object from Python.
An unknown name or option, a bad value, and a hook implementation whose name is not a hook (a
misspelling that would otherwise never be called) are errors naming the extension.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy
from engrammar.hooks import HookSpecs
from engrammar.spec import SpecError, structure

__all__ = [
    "LOGGER_GROUP",
    "build_extension",
    "installed_loggers",
    "load_logger",
    "load_trick",
    "parse_extension",
    "parse_setting",
    "register_checked",
]

LOGGER_GROUP = "engrammar.loggers"
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_setting(text: str) -> Any:
    """A value written on a command line, read as YAML (``3e-3`` is a number here, not a string)."""
    from engrammar.wiring.loader import parse_value

    value = parse_value(text)
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def parse_extension(entry: Any, path: str) -> tuple[str, dict[str, Any]]:
    """``"name"``, ``"name:key=value,..."`` or ``{"use": name, ...}`` -> (name, options)."""
    if isinstance(entry, Mapping):
        options = dict(entry)
        name = options.pop("use", None)
        if not isinstance(name, str):
            raise SpecError(f"{path}.use", "missing: name the extension (use: <name>)")
        return name, options
    if not isinstance(entry, str) or not entry.strip():
        raise SpecError(path, f"expected a name or 'name:key=value,...', got {entry!r}")
    from engrammar.wiring.sweep import split_choices

    name, _, rest = entry.partition(":")
    options: dict[str, Any] = {}
    for item in split_choices(rest) if rest.strip() else []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(path, f"expected key=value after '{name.strip()}:', got {item!r}")
        options[key.strip()] = parse_setting(text.strip())
    return name.strip(), options


def build_extension(cls: Any, name: str, options: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` with ``options`` checked against its spec (errors: ``name.key: ...``)."""
    spec_cls = getattr(cls, "spec_cls", None)
    if spec_cls is None:
        if options:
            raise SpecError(f"{name}.{next(iter(options))}", f"unknown option: {name} takes no options")
        return cls()
    return cls(structure(dict(options), spec_cls, path=name))


def load_trick(entry: Any, path: str) -> Any:
    """The trick an entry names, built with its options (a ready object is returned as it is)."""
    if not isinstance(entry, (str, Mapping)):
        return entry
    from engrammar.registry import RegistryError, load, resolve

    name, options = parse_extension(entry, path)
    try:
        info = resolve(name, kind="tricks")
        cls = load(info)
    except RegistryError as err:
        raise SpecError(path, str(err).replace("no component named", "no trick named")) from None
    return build_extension(cls, info.name, options)


def installed_loggers() -> dict[str, Any]:
    """Logger name -> entry point, from the installed distributions' metadata."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=LOGGER_GROUP)}


def load_logger(entry: Any, path: str) -> Any:
    """The logger an entry names, built with its options (a ready object is returned as it is)."""
    if not isinstance(entry, (str, Mapping)):
        return entry
    name, options = parse_extension(entry, path)
    found = installed_loggers()
    if name not in found:
        close = difflib.get_close_matches(name, list(found), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(path, f"no logger named {name!r}{hint} (installed: {', '.join(sorted(found))})")
    try:
        cls = found[name].load()
    except ImportError as err:
        raise SpecError(path, f"logger {name!r} failed to import: {err}") from None
    return build_extension(cls, name, options)


def register_checked(manager: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register ``plugin`` and reject hook implementations that match no hook specification (a
    misspelt name) or take arguments the hook does not pass."""
    try:
        manager.register(plugin, name=name)
        manager.check_pending()
    except pluggy.PluginValidationError as err:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        raise SpecError(name, _explain(err)) from None


def _explain(err: pluggy.PluginValidationError) -> str:
    text = str(err)
    unknown = re.search(r"unknown hook '([^']+)'", text)
    if unknown:
        hooks = [n for n in vars(HookSpecs) if not n.startswith("_")]
        close = difflib.get_close_matches(unknown.group(1), hooks, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (hooks: {', '.join(hooks)})"
        return f"{unknown.group(1)!r} is marked @hookimpl but is not a training hook{hint}"
    return " ".join(text.split())


def extension_names(entries: Iterable[Any]) -> list[str]:
    """Display names of extensions (for the run's record)."""
    return [entry if isinstance(entry, str) else type(entry).__name__ for entry in entries]
