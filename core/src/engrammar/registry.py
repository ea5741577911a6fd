"""The registry: components found by name through entry points, listed without importing them.

Plugins declare components in their package metadata, one entry-point group per kind::

    [project.entry-points."engrammar.memories"]
    dnc = "engrammar_dnc.dnc:DNC"

Listing reads that metadata only (no plugin module, no torch), so it is fast and a plugin that is
broken cannot break it. A plugin's module is imported the first time one of its names is built;
if that import fails, the error names the distribution and the cause, and every other component
keeps working. Two distributions offering one name are both listed and must be told apart with a
qualified name (``acme:dnc``); nothing is silently shadowed.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .first_party import PROVIDERS, provider_of

__all__ = [
    "KINDS",
    "AmbiguousNameError",
    "ComponentInfo",
    "PluginImportError",
    "RegistryError",
    "UnknownNameError",
    "build",
    "check",
    "components",
    "info_for_spec",
    "load",
    "malformed",
    "register",
    "registered_as",
    "resolve",
    "unregister",
]

KINDS = ("memories", "controllers", "routers", "layers", "tricks", "tasks", "readers", "writers")
GROUP_PREFIX = "engrammar."
RUNTIME = "runtime"


class RegistryError(LookupError):
    """Base class of registry errors; ``str()`` is a message for the user."""


class UnknownNameError(RegistryError):
    pass


class AmbiguousNameError(RegistryError):
    pass


class PluginImportError(RegistryError):
    """A plugin's entry point could not be loaded or built; ``cause`` says why, in one line."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause or message


@attrs.frozen
class ComponentInfo:
    """One registered name. ``target`` is ``module:attribute``; ``obj`` is set for run-time entries."""

    name: str
    kind: str
    distribution: str
    version: str
    target: str
    obj: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{short_distribution(self.distribution)}:{self.name}"

    @property
    def summary(self) -> str:
        """First line of the class docstring, read from source without importing the module."""
        if self.obj is not None:
            return _first_line(self.obj.__doc__)
        return _summary_from_source(self.target) or _distribution_summary(self.distribution)


def short_distribution(distribution: str) -> str:
    name = normalize(distribution)
    return name[len("engrammar-") :] if name.startswith("engrammar-") and name != "engrammar" else name


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


@cache
def _summary_from_source(target: str) -> str:
    module_name, _, attribute = target.partition(":")
    path = _module_path(module_name)
    if path is None:
        return ""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ""
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attribute.split(".")[0]:
            return _first_line(ast.get_docstring(node))
    return _first_line(ast.get_docstring(tree))


def _module_path(module_name: str) -> Path | None:
    """The source file of a module, found without executing any package (top level only)."""
    top, *rest = module_name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@cache
def _distribution_summary(distribution: str) -> str:
    try:
        return metadata.metadata(distribution)["Summary"] or ""
    except (metadata.PackageNotFoundError, KeyError):
        return ""


# --------------------------------------------------------------------------------------------
# Discovery

_runtime: dict[str, ComponentInfo] = {}
_loaded: dict[tuple[str, str], Any] = {}
#: spec class -> the entries whose loaded (or registered) class is built from it
_by_spec: dict[type, list[ComponentInfo]] = {}


@lru_cache(maxsize=1)
def _entry_point_infos() -> tuple[ComponentInfo, ...]:
    infos: list[ComponentInfo] = []
    seen: set[tuple[str, str, str]] = set()
    for kind in KINDS:
        for ep in metadata.entry_points(group=GROUP_PREFIX + kind):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else "unknown"
            version = dist.version if dist is not None else "?"
            key = (ep.name, kind, normalize(dist_name))
            if key in seen:  # the same distribution seen twice on sys.path
                continue
            seen.add(key)
            infos.append(ComponentInfo(ep.name, kind, dist_name, version, ep.value))
    return tuple(infos)


def refresh() -> None:
    """Forget cached metadata (after installing a plugin in a running process)."""
    _entry_point_infos.cache_clear()
    _summary_from_source.cache_clear()
    _distribution_summary.cache_clear()
    importlib.invalidate_caches()


def _all_infos() -> list[ComponentInfo]:
    return [*_entry_point_infos(), *_runtime.values()]


def components(kind: str | None = None, pattern: str = "*") -> list[ComponentInfo]:
    """Registered names, sorted, optionally of one ``kind`` and matching a glob ``pattern``.

    Reads package metadata only: no plugin module is imported.
    """
    if kind is not None:
        kind = _check_kind(kind)
    found = [
        info for info in _all_infos() if (kind is None or info.kind == kind) and fnmatch.fnmatchcase(info.name, pattern)
    ]
    return sorted(found, key=lambda i: (i.kind, i.name, normalize(i.distribution)))


def _check_kind(kind: str) -> str:
    if kind in KINDS:
        return kind
    if kind + "s" in KINDS:
        return kind + "s"
    if kind.endswith("y") and kind[:-1] + "ies" in KINDS:
        return kind[:-1] + "ies"
    raise UnknownNameError(f"unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")


def resolve(name: str, kind: str | None = None) -> ComponentInfo:
    """The one entry a (possibly qualified, ``dist:name``) name refers to."""
    qualifier, _, bare = name.rpartition(":")
    candidates = [
        info for info in _all_infos() if info.name == bare and (kind is None or info.kind == _check_kind(kind))
    ]
    if qualifier:
        wanted = normalize(qualifier)
        candidates = [
            info
            for info in candidates
            if wanted in (normalize(info.distribution), short_distribution(info.distribution))
        ]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        options = ", ".join(
            f"{info.qualified_name} ({info.kind}, {info.distribution} {info.version})" for info in candidates
        )
        raise AmbiguousNameError(f"{name!r} is offered by several distributions: {options}; use a qualified name")
    raise UnknownNameError(_unknown_message(name, bare, kind))


def _unknown_message(name: str, bare: str, kind: str | None) -> str:
    installed = {info.name for info in _all_infos()}
    installed_dists = {normalize(info.distribution) for info in _all_infos()}
    hinted = {hinted_name for names in PROVIDERS.values() for hinted_name in names}
    message = f"no component named {name!r}"
    if kind is not None:
        message += f" of kind {kind!r}"
    close = difflib.get_close_matches(bare, sorted(installed | hinted), n=3, cutoff=0.6)
    if bare in hinted:
        close = [bare]
    elif close:
        message += "; did you mean " + ", ".join(repr(c) for c in close) + "?"
    for candidate in close:
        provider = provider_of(candidate)
        if candidate not in installed and provider is not None and normalize(provider) not in installed_dists:
            separator = " " if message.endswith("?") else "; "
            message += f"{separator}{candidate!r} is provided by {provider}: pip install {provider}"
            break
    return message


def load(info_or_name: ComponentInfo | str, kind: str | None = None) -> Any:
    """Import and return the class behind a name (imports the plugin's module on first use)."""
    info = info_or_name if isinstance(info_or_name, ComponentInfo) else resolve(info_or_name, kind)
    if info.obj is not None:
        return info.obj
    key = (info.target, info.distribution)
    if key not in _loaded:
        module_name, _, attribute = info.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attribute.split(".") if attribute else []:
                obj = getattr(obj, part)
        except Exception as err:  # a broken plugin: say which, and why
            cause = f"{type(err).__name__}: {err}".strip()
            raise PluginImportError(
                f"component {info.name!r} from distribution {info.distribution} {info.version} "
                f"failed to import ({info.target}): {cause}",
                cause,
            ) from err
        _loaded[key] = obj
        _record(info, obj)
    return _loaded[key]


def malformed(cls: Any) -> str:
    """What keeps ``cls`` from being built from a spec (``""`` when nothing does): a buildable
    class has a ``spec_cls`` that is an attrs class."""
    spec_cls = getattr(cls, "spec_cls", None)
    if spec_cls is None:
        return f"{getattr(cls, '__name__', repr(cls))} has no spec_cls"
    if not (isinstance(spec_cls, type) and attrs.has(spec_cls)):
        return f"its spec_cls {spec_cls!r} is not an attrs class"
    return ""


def check(info: ComponentInfo) -> str:
    """Import ``info``'s object and say what is wrong with it (``""``: nothing). Tasks, layers,
    memories, controllers and routers are built from specs, so their spec class is checked too."""
    try:
        obj = load(info)
    except PluginImportError as err:
        return err.cause
    return malformed(obj) if info.kind in ("memories", "controllers", "routers", "layers") else ""


def _record(info: ComponentInfo, obj: Any) -> None:
    """Remember the name a class was loaded (or registered) by, under its spec class."""
    spec_cls = getattr(obj, "spec_cls", None)
    if spec_cls is None:
        return
    recorded = _by_spec.setdefault(spec_cls, [])
    if not any(known == info and known.obj is info.obj for known in recorded):
        recorded.append(info)


def registered_as(obj: Any) -> ComponentInfo | None:
    """The registry entry a loaded or registered class was found by (the first, if several), or
    ``None`` for a class the registry has not loaded."""
    spec_cls = getattr(obj, "spec_cls", None)
    for info in _by_spec.get(spec_cls, []) if spec_cls is not None else []:
        if _object_of(info) is obj:
            return info
    return None


def _object_of(info: ComponentInfo) -> Any:
    return info.obj if info.obj is not None else _loaded.get((info.target, info.distribution))


def info_for_spec(spec_cls: type) -> ComponentInfo:
    """The registry entry whose class is built from ``spec_cls``.

    Classes are recorded under their spec class when they are loaded or registered. A spec class
    whose component is not loaded yet is looked up among the entry points of the distribution
    that ships it (the one whose modules share the spec's top-level package), never by importing
    every plugin. When several classes use one spec class, the one that declares it (``spec_cls``
    set in its own body, not inherited) is chosen; if that leaves several, the name must be given.
    """
    failures: list[str] = []
    if not _declarers(spec_cls):
        failures = _load_package_of(spec_cls)
    candidates = _declarers(spec_cls) or _by_spec.get(spec_cls, [])
    by_class: dict[int, ComponentInfo] = {}
    for info in candidates:
        by_class.setdefault(id(_object_of(info)), info)
    if len(by_class) == 1:
        return next(iter(by_class.values()))
    where = f"{spec_cls.__module__}.{spec_cls.__qualname__}"
    if not by_class:
        unloadable = f" ({'; '.join(failures)})" if failures else ""
        raise UnknownNameError(f"no registered component is built from {where}{unloadable}")
    names = ", ".join(repr(info.name) for info in by_class.values())
    raise AmbiguousNameError(f"{where} is the spec of several components ({names}); build one of them by name")


def _declarers(spec_cls: type) -> list[ComponentInfo]:
    return [
        info
        for info in _by_spec.get(spec_cls, [])
        if getattr(_object_of(info), "__dict__", {}).get("spec_cls") is spec_cls
    ]


def _load_package_of(spec_cls: type) -> list[str]:
    """Load the entry points whose modules share ``spec_cls``'s top-level package; return the
    errors of those that fail to import (a broken sibling must not stop the others)."""
    package = spec_cls.__module__.partition(".")[0]
    failures = []
    for info in _entry_point_infos():
        if info.target.partition(":")[0].partition(".")[0] == package:
            try:
                load(info)
            except PluginImportError as err:
                failures.append(str(err))
    return failures


# --------------------------------------------------------------------------------------------
# Run-time registration

C = TypeVar("C")


def register(kind: str, name: str) -> Callable[[C], C]:
    """Class decorator registering a component under ``name`` at run time (notebooks, tests)::

    @engrammar.register("memories", "my_memory")
    class MyMemory(engrammar.Component): ...
    """
    kind = _check_kind(kind)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
        raise ValueError(f"invalid component name {name!r}: use letters, digits, '_' and '-'")

    def decorate(obj: C) -> C:
        existing = _runtime.get(name)
        if existing is not None and existing.obj is not obj:
            raise ValueError(f"{name!r} is already registered at run time by {existing.obj!r}; unregister it first")
        module = getattr(obj, "__module__", "?")
        qualname = getattr(obj, "__qualname__", repr(obj))
        info = ComponentInfo(name, kind, RUNTIME, "-", f"{module}:{qualname}", obj)
        _runtime[name] = info
        _record(info, obj)
        return obj

    return decorate


def unregister(name: str) -> None:
    """Remove a run-time registration (no effect on entry points)."""
    info = _runtime.pop(name, None)
    spec_cls = getattr(info.obj, "spec_cls", None) if info is not None else None
    if spec_cls in _by_spec:
        _by_spec[spec_cls] = [known for known in _by_spec[spec_cls] if known is not info]


# --------------------------------------------------------------------------------------------
# Building


def _is_wiring_path(value: str) -> bool:
    return value.endswith((".yaml", ".yml", ".toml", ".json")) or "/" in value or "\\" in value


def build(name_or_spec: Any, **overrides: Any) -> Any:
    """Build a component (or task, or wiring) from a registry name, a spec, a mapping or a file.

    - ``build("ema", in_features=8, init_decay=0.5)``: a registry name and spec fields;
    - ``build({"use": "ema", "in_features": 8})``: the same as data;
    - ``build(EMASpec(...))``: a spec object, built by the class that declares its spec class
      (found among the entry points of the spec's own distribution; see :func:`info_for_spec`);
    - ``build("examples/lstm_dnc.yaml", in_features=8)``: a wiring file (or a mapping with ``nodes``).
    """
    from .spec import SpecError

    if isinstance(name_or_spec, (str, Path)) and (isinstance(name_or_spec, Path) or _is_wiring_path(name_or_spec)):
        from .wiring import build_wiring

        return build_wiring(name_or_spec, **overrides)
    if isinstance(name_or_spec, Mapping):
        data = dict(name_or_spec)
        if "nodes" in data:
            from .wiring import build_wiring

            return build_wiring(data, **overrides)
        if "use" not in data:
            raise SpecError("use", "missing: name the component to build (use: <name>)")
        name = data.pop("use")
        if not isinstance(name, str):
            raise SpecError("use", f"expected a component name, got {name!r}")
        return build(name, **{**data, **overrides})
    if isinstance(name_or_spec, str):
        return _construct(resolve(name_or_spec), overrides)
    if attrs.has(type(name_or_spec)):
        from .wiring.spec import GraphSpec

        if isinstance(name_or_spec, GraphSpec):
            from .wiring import build_wiring

            return build_wiring(name_or_spec, **overrides)
        return _construct(info_for_spec(type(name_or_spec)), overrides, name_or_spec)
    raise TypeError(f"cannot build from {type(name_or_spec).__name__}: give a name, a mapping, a spec or a file")


def _construct(info: ComponentInfo, fields: Mapping[str, Any], spec: Any = None) -> Any:
    """Build ``info``'s class from ``spec`` and/or ``fields``; errors name the path from the
    registry name (``ema.init_decay``), whatever the class calls itself."""
    from .spec import SpecError, structure, unstructure

    cls = load(info)
    problem = malformed(cls)
    if problem:
        raise PluginImportError(
            f"component {info.name!r} from distribution {info.distribution} {info.version} "
            f"cannot be built ({info.target}): {problem}",
            problem,
        )
    spec_cls = cls.spec_cls
    if spec is None or fields:
        data = {**unstructure(spec), **fields} if spec is not None else dict(fields)
        spec = structure(data, spec_cls, path=info.name)
    try:
        return cls(spec)
    except SpecError as err:
        raise err.rerooted(getattr(cls, "__name__", ""), info.name) from None
    except (MemoryError, RuntimeError, TypeError, OverflowError) as err:
        if not too_large(err):
            raise
        raise SpecError(info.name, f"too large to build: {first_line(err)}") from None


#: what torch says when sizes do not fit in memory or in a 64-bit integer
_TOO_LARGE = ("can't allocate memory", "not enough memory", "Overflow when unpacking", "out of memory")


def too_large(err: BaseException) -> bool:
    """``err`` says that sizes were too large to allocate (not a bug of the component)."""
    return isinstance(err, MemoryError) or any(words in str(err) for words in _TOO_LARGE)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
