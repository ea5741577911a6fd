"""Specs: frozen attrs classes, one cattrs converter, and errors that name their path.

A spec is the complete, serialisable description of a component (or task, or wiring). Every spec
class is an attrs class made with :func:`spec` (frozen, keyword-only); fields are declared with
:func:`field`, which carries a one-line doc and a validator whose rule can be printed
(``engrammar describe``). :func:`structure` turns a mapping (from YAML, TOML, JSON or Python) into a
spec and reports the first problem as a :class:`SpecError` whose message names the full path::

    nodes.mem.memory_size: must be >= 1, got 0

:func:`unstructure` turns a spec back into plain data; the round trip is lossless.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import typing
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs
import cattrs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ComponentSpec",
    "Retired",
    "RetiredFieldWarning",
    "SpecError",
    "between",
    "converter",
    "dump_mapping",
    "field",
    "ge",
    "gt",
    "le",
    "load_mapping",
    "load_yaml",
    "lt",
    "one_of",
    "optional",
    "rule_of",
    "spec",
    "structure",
    "unstructure",
]

T = TypeVar("T")

#: Decorator for spec classes: frozen (hashable, immutable) and keyword-only, so subclasses may add
#: required fields after the base class's defaulted ones.
spec = attrs.frozen(kw_only=True)


class SpecError(ValueError):
    """Bad input, named by where it is. ``str(error)`` is one line: ``path: rule``.

    The one error type for specs, wirings and wiring files: ``path`` is dotted from the root of
    what was given (``nodes.mem.memory_size``, ``ema.init_decay``, ``in_features``), ``rule`` says
    what is wrong. ``engrammar.wiring.WiringError`` is this class under its former name, so code
    catching either catches every such error.
    """

    #: marks an error caused by its user's input (a command prints it without a traceback)
    user_error = True

    def __init__(self, path: str, rule: str) -> None:
        self.path = path
        self.rule = rule
        super().__init__(f"{path}: {rule}" if path else rule)

    @property
    def problem(self) -> str:
        """``rule`` under the name ``WiringError`` gave it."""
        return self.rule

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (data-loader workers)
        return (type(self), (self.path, self.rule))

    def under(self, prefix: str) -> SpecError:
        """The same error with ``prefix`` put in front of its path."""
        return SpecError(join_path(prefix, self.path), self.rule)

    def rerooted(self, root: str, new_root: str) -> SpecError:
        """The same error with the first part of its path, ``root`` (the name a component gives
        itself, its class name), replaced by ``new_root`` (its registry name, or its node's path);
        a path that does not start at ``root`` is put under ``new_root``."""
        if self.path == root or self.path.startswith((f"{root}.", f"{root}[")):
            return SpecError(new_root + self.path[len(root) :], self.rule)
        return self.under(new_root)


def key_name(key: Any) -> str:
    """``key`` as one part of a path: itself when it reads unambiguously (``memory_size``), quoted
    otherwise (``''``, ``'a.b'``, ``'two words'``, a number), so every message names a place."""
    if isinstance(key, str) and key and key.isprintable() and not any(c in key for c in ".[]'\" \t"):
        return key
    return repr(key)


def join_path(prefix: str, name: str) -> str:
    if not prefix:
        return name
    if not name:
        return prefix
    return f"{prefix}.{name}"


# --------------------------------------------------------------------------------------------
# Validators whose rule can be printed. Each raises _RuleBroken, which structure() turns into a
# SpecError carrying the field's full path.


class _RuleBroken(ValueError):
    def __init__(self, field_name: str, rule: str) -> None:
        self.field_name = field_name
        self.rule = rule
        super().__init__(f"{field_name}: {rule}")


@attrs.frozen
class _Rule:
    text: str
    check: Callable[[Any], bool]

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
        if value is None and attribute.default is None:
            return  # an optional field left unset
        if not self.check(value):
            raise _RuleBroken(attribute.name, f"must be {self.text}, got {value!r}")


def ge(bound: float) -> _Rule:
    """Value must be ``>= bound``."""
    return _Rule(f">= {bound}", lambda v: v >= bound)


def gt(bound: float) -> _Rule:
    """Value must be ``> bound``."""
    return _Rule(f"> {bound}", lambda v: v > bound)


def le(bound: float) -> _Rule:
    """Value must be ``<= bound``."""
    return _Rule(f"<= {bound}", lambda v: v <= bound)


def lt(bound: float) -> _Rule:
    """Value must be ``< bound``."""
    return _Rule(f"< {bound}", lambda v: v < bound)


def between(low: float, high: float, *, inclusive: bool = True) -> _Rule:
    """Value must lie in ``[low, high]`` (or ``(low, high)`` when not inclusive)."""
    if inclusive:
        return _Rule(f"in [{low}, {high}]", lambda v: low <= v <= high)
    return _Rule(f"in ({low}, {high})", lambda v: low < v < high)


def one_of(*choices: Any) -> _Rule:
    """Value must be one of ``choices``."""
    text = "one of " + ", ".join(repr(c) for c in choices)
    return _Rule(text, lambda v: v in choices)


def optional(rule: _Rule) -> _Rule:
    """``None``, or a value that keeps ``rule`` (for fields whose default is not ``None``)."""
    return _Rule(f"None or {rule.text}", lambda v: v is None or rule.check(v))


def rule_of(attribute: attrs.Attribute) -> str:  # type: ignore[type-arg]
    """The printable rules of a field's validator(s), or ``""``."""
    validator = attribute.validator
    if validator is None:
        return ""
    parts = getattr(validator, "_validators", None) or (validator,)
    return "; ".join(p.text for p in parts if isinstance(p, _Rule))


def field(
    *,
    default: Any = attrs.NOTHING,
    doc: str = "",
    validator: Any = None,
    factory: Callable[[], Any] | None = None,
    hash: bool | None = None,
) -> Any:
    """Declare a spec field with a one-line ``doc`` and an optional printable ``validator``.
    ``hash=False`` leaves a field holding a mapping out of the spec's hash (it still counts for ``==``)."""
    if factory is not None:
        return attrs.field(factory=factory, validator=validator, metadata={"doc": doc}, hash=hash)
    return attrs.field(default=default, validator=validator, metadata={"doc": doc}, hash=hash)


@attrs.frozen
class Retired:
    """A field a spec no longer has. Old specs and checkpoints that carry it still load: the value
    is dropped, with a :class:`RetiredFieldWarning` saying ``why`` unless it is ``inert`` (the
    value that asked for nothing, usually the old default)."""

    why: str
    inert: Any = None


class RetiredFieldWarning(UserWarning):
    """A spec carried a retired field with a value that asked for something; it was ignored."""


@spec
class ComponentSpec:
    """Fields every component spec has. A wiring fills ``in_features`` from the node's inputs.

    A subclass that removes a field lists it in ``retired_fields`` (``{name: Retired(why, inert)}``)
    so that specs written before still load."""

    retired_fields: ClassVar[Mapping[str, Retired]] = {}

    in_features: int | None = field(default=None, validator=ge(1), doc="width of the input (inferred inside a wiring)")


# --------------------------------------------------------------------------------------------
# The converter: strict about scalar types (a float is never truncated to an int, a string is
# never parsed as a number), lenient only where no information is lost (an int is a valid float).


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(bool, _strict_bool)
converter.register_structure_hook(str, _strict_str)


def type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _structure_value(value: Any, tp: Any, path: str) -> Any:
    if attrs.has(tp):
        return structure(value, tp, path=path)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _structure_value(value, arg, path)
            except SpecError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise SpecError(path, f"expected {type_name(tp)}, got {value!r}")
    if typing.get_origin(tp) is typing.Literal:
        if value not in args:
            raise SpecError(path, f"must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if tp is Any:
        return value
    if origin in (list, tuple) and args:
        if not isinstance(value, (list, tuple)):
            raise SpecError(path, f"expected a list, got {value!r}")
        item_type = args[0]
        items = [_structure_value(v, item_type, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict and args:
        if not isinstance(value, Mapping):
            raise SpecError(path, f"expected a mapping, got {value!r}")
        return {
            _structure_value(k, args[0], path): _structure_value(v, args[1], join_path(path, key_name(k)))
            for k, v in value.items()
        }
    try:
        return converter.structure(value, tp)
    except Exception:
        raise SpecError(path, f"expected {type_name(tp)}, got {value!r}") from None


def structure(data: Any, cls: type[T], *, path: str = "") -> T:
    """Build a spec of class ``cls`` from a mapping; raise :class:`SpecError` naming the path."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise SpecError(path, f"expected a mapping of {cls.__name__} fields, got {data!r}")
    attrs.resolve_types(cls)  # type: ignore[type-var]
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    data = _without_retired(data, cls, path)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(fields)
            raise SpecError(join_path(path, key_name(key)), f"unknown field{hint} (fields: {known})")
    kwargs: dict[str, Any] = {}
    for name, attribute in fields.items():
        if name not in data:
            if attribute.default is attrs.NOTHING:
                raise SpecError(join_path(path, name), "missing required field")
            continue
        kwargs[name] = _structure_value(data[name], attribute.type, join_path(path, name))
    try:
        return cls(**kwargs)
    except _RuleBroken as err:
        raise SpecError(join_path(path, err.field_name), err.rule) from None
    except (TypeError, ValueError) as err:
        raise SpecError(path, str(err)) from None


def _without_retired(data: Mapping[str, Any], cls: type, path: str) -> Mapping[str, Any]:
    retired: Mapping[str, Retired] = getattr(cls, "retired_fields", {})
    if not any(key in retired for key in data):
        return data
    for key, value in data.items():
        if key in retired and value != retired[key].inert:
            warnings.warn(
                f"{join_path(path, key)}: retired field, {value!r} ignored: {retired[key].why}",
                RetiredFieldWarning,
                stacklevel=3,
            )
    return {key: value for key, value in data.items() if key not in retired}


def unstructure(value: Any) -> Any:
    """Plain data (dicts, lists, scalars) for a spec; ``structure`` inverts it exactly."""
    return converter.unstructure(value)


# --------------------------------------------------------------------------------------------
# Files


def load_mapping(source: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON file (chosen by suffix) into a dict."""
    path = Path(source)
    if path.is_dir():
        raise SpecError(str(path), "is a folder; name a .yaml, .toml or .json file")
    if not path.is_file():
        raise SpecError(str(path), "no such file")
    text = path.read_text(encoding="utf-8")
    return parse_mapping(text, path.suffix.lower(), origin=str(path))


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML with YAML 1.2 floats: ``3e-3`` is a float (plain PyYAML reads it as text)."""

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    for first in "-+0123456789.":
        Loader.yaml_implicit_resolvers[first] = [
            (tag, regexp)
            for tag, regexp in Loader.yaml_implicit_resolvers.get(first, [])
            if tag != "tag:yaml.org,2002:float"
        ]
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
    return Loader


def load_yaml(text: str) -> Any:
    """Parse YAML text, reading ``1e-3`` as a float as YAML 1.2 does."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def parse_mapping(text: str, suffix: str, *, origin: str = "<text>") -> dict[str, Any]:
    """Parse YAML / TOML / JSON text (``suffix`` is ``.yaml``, ``.yml``, ``.toml`` or ``.json``)."""
    try:
        if suffix in (".yaml", ".yml"):
            data = load_yaml(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise SpecError(origin, f"unknown file type {suffix!r} (use .yaml, .toml or .json)")
    except SpecError:
        raise
    except Exception as err:  # parse errors of three libraries, reported in one form
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SpecError(origin, f"cannot parse: {first_line}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(origin, f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def dump_mapping(data: Mapping[str, Any], suffix: str) -> str:
    """Serialise plain data as YAML, TOML or JSON text. TOML has no null: ``None`` entries are
    left out, which round-trips for fields whose default is ``None``."""
    if suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_dump(dict(data), sort_keys=False)
    if suffix == ".toml":
        import tomli_w

        return tomli_w.dumps(_drop_none(dict(data)))
    if suffix == ".json":
        return json.dumps(data, indent=2)
    raise SpecError("<format>", f"unknown file type {suffix!r} (use .yaml, .toml or .json)")
