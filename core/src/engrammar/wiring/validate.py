"""Validation: everything that can be wrong with a wiring is found before any parameter exists.

:func:`resolve_graph` checks, in this order, and reports the first problem with the path of the
node and field (``nodes.ctrl.in[1]: no node named 'mme'; did you mean 'mem'?``):

1. every ``use`` names a registered component (or a wiring file), with suggestions when it does not;
2. every input names ``x`` or a node, with the right syntax (``name`` or ``name@-k``);
3. no cycle goes through undelayed edges only (the error lists the cycle);
4. every node's fields are valid for its component's spec; ``in_features`` (and a combinator's
   ``input_sizes``) are inferred from the inputs, so widths never have to be written twice;
5. inputs that must share a width do (a residual gate's path and bypass, a mixture's experts).

Nodes whose output reaches neither the graph output nor another node get a :class:`UnusedNodeWarning`.

Widths are inferred by instantiating each node's component on the ``meta`` device (no memory is
allocated and no random numbers are drawn); a loop is opened at a node whose output width does not
depend on its input width, wherever its delayed edge enters (:mod:`engrammar.wiring.widths`).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import nn

from ..registry import RegistryError, first_line, load, malformed, resolve, too_large
from ..spec import ComponentSpec, SpecError, structure
from .ports import MANY
from .refs import INPUT, Ref, parse_ref
from .spec import GraphSpec, InputsData, NodeSpec
from .widths import infer_widths

__all__ = ["ResolvedGraph", "ResolvedNode", "UnusedNodeWarning", "instantiate", "resolve_graph"]


class UnusedNodeWarning(UserWarning):
    """A node whose output nothing reads."""


@attrs.frozen
class InputGroup:
    """One input of a component: references concatenated along features. ``field`` is where it
    was written (``in``, ``experts[1]``), for error messages."""

    refs: tuple[Ref, ...]
    field: str
    port: str


@attrs.frozen
class ResolvedNode:
    """A validated node: its component class and full spec, and what it reads."""

    name: str
    use: str
    cls: type
    spec: ComponentSpec
    groups: tuple[InputGroup, ...]
    in_features: int
    out_features: int
    state_spec: Mapping[str, Any]
    num_parameters: int

    @property
    def refs(self) -> tuple[Ref, ...]:
        """Every reference in input order: the component's input is their concatenation."""
        return tuple(ref for group in self.groups for ref in group.refs)


@attrs.frozen
class ResolvedGraph:
    spec: GraphSpec
    in_features: int
    nodes: dict[str, ResolvedNode]
    out: tuple[Ref, ...]
    out_features: int
    #: for every source read with a delay: the largest delay k, and its width
    history: dict[str, tuple[int, int]]
    unused: tuple[str, ...]


def instantiate(cls: type, spec: ComponentSpec, path: str, *, meta: bool = False) -> nn.Module:
    """Build a component, reporting its constructor's complaints at ``path``.

    ``meta=True`` builds on the meta device (shapes only); a component whose constructor cannot run
    there is built on the CPU instead. A nested wiring's unused-node warnings are given again with
    ``path`` in front (``nodes.block.nodes.spare: unused ...``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _instantiate(cls, spec, path, meta=meta)
    for warning in caught:
        if issubclass(warning.category, UnusedNodeWarning):
            warnings.warn(f"{path}.{warning.message}", UnusedNodeWarning, stacklevel=2)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return module


def _instantiate(cls: type, spec: ComponentSpec, path: str, *, meta: bool) -> nn.Module:
    try:
        if meta:
            try:
                with torch.device("meta"):
                    return cls(spec)  # type: ignore[no-any-return]
            except SpecError:
                raise
            except Exception:  # e.g. an initialiser without a meta kernel: build it for real
                pass
        return cls(spec)  # type: ignore[no-any-return]
    except SpecError as err:
        # The component names paths after its class (``EMA.init_decay``): say which node.
        raise err.rerooted(getattr(cls, "__name__", ""), path) from None
    except (MemoryError, RuntimeError, TypeError, OverflowError, ValueError) as err:
        if too_large(err):
            raise SpecError(path, f"too large to build: {first_line(err)}") from None
        if isinstance(err, RuntimeError):
            raise
        raise SpecError(path, f"{getattr(cls, '__name__', cls)} rejected its spec: {first_line(err)}") from None


def _component_class(node: NodeSpec, path: str) -> type:
    from .loader import is_wiring_path

    if is_wiring_path(node.use):
        from .graph import wiring_file_class

        return wiring_file_class(node.use)
    try:
        info = resolve(node.use)
        cls = load(info)
    except RegistryError as err:
        raise SpecError(f"{path}.use", str(err)) from None
    problem = malformed(cls)
    if problem or not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise SpecError(
            f"{path}.use",
            f"component {node.use!r} from distribution {info.distribution} {info.version} cannot be built "
            f"({info.target}): {problem or 'it is not a torch module'}",
        )
    return cls


def _groups(node: NodeSpec, cls: type, path: str) -> tuple[tuple[InputGroup, ...], dict[str, Any]]:
    """The component's inputs as groups of references, and the node's remaining (spec) fields."""
    ports: Mapping[str, str] | None = getattr(cls, "input_ports", None)
    fields = dict(node.fields)
    if not ports:
        if node.inputs is None:
            raise SpecError(f"{path}.in", "missing: name the node's inputs (x, a node, a list, or name@-k)")
        return (InputGroup(_refs(node.inputs, f"{path}.in"), "in", "in"),), fields
    if node.inputs is not None and "in" not in ports:
        raise SpecError(f"{path}.in", f"{node.use} takes its inputs as {', '.join(ports)}, not as `in`")
    groups: list[InputGroup] = []
    for port, arity in ports.items():
        value: InputsData | None = node.inputs if port == "in" else fields.pop(port, None)
        written = port  # where the references were written, for error messages
        if isinstance(value, Mapping):
            value, written = _port_with_component(node, cls, port, value, fields, path), f"{port}.in"
        if value is None:
            close = difflib.get_close_matches(port, [str(k) for k in fields], n=1)
            hint = f" (is '{close[0]}' a misspelling of it?)" if close else ""
            raise SpecError(f"{path}.{port}", f"missing: {node.use} needs its `{port}` input{hint}")
        if arity == MANY:
            items = (value,) if isinstance(value, str) else value
            if isinstance(items, (list, tuple)) and not items:
                raise SpecError(f"{path}.{written}", "expected at least one input")
            for index, item in enumerate(items):
                where = f"{written}[{index}]" if not isinstance(value, str) else written
                groups.append(InputGroup(_refs(item, f"{path}.{where}"), where, port))
        else:
            groups.append(InputGroup(_refs(value, f"{path}.{written}"), written, port))
    return tuple(groups), fields


def _port_with_component(
    node: NodeSpec, cls: type, port: str, value: Mapping[str, Any], fields: dict[str, Any], path: str
) -> InputsData:
    """A port written as a mapping, ``{use: name, in: refs, **fields}`` (``moe``'s ``router``): its
    ``in`` is the port's input, and the rest is the spec field named like the port, which
    describes the component that reads that input. Only a component whose spec has such a field
    takes a port in this form."""
    if port not in attrs.fields_dict(cls.spec_cls):  # type: ignore[attr-defined]
        raise SpecError(
            f"{path}.{port}",
            f"{node.use} takes its `{port}` input as references (x, a node, a list, or name@-k), not a mapping",
        )
    if value.get("in") is None:
        raise SpecError(f"{path}.{port}.in", f"missing: name the input of {node.use}'s `{port}`")
    fields[port] = {key: item for key, item in value.items() if key != "in"}
    return value["in"]  # type: ignore[no-any-return]


def _refs(value: Any, path: str) -> tuple[Ref, ...]:
    if isinstance(value, str):
        return (parse_ref(value, path),)
    if isinstance(value, (list, tuple)):
        refs: list[Ref] = []
        for index, item in enumerate(value):
            if isinstance(item, (list, tuple)):
                refs.extend(_refs(item, f"{path}[{index}]"))
            else:
                refs.append(parse_ref(item, f"{path}[{index}]"))
        if not refs:
            raise SpecError(path, "expected at least one input")
        return tuple(refs)
    raise SpecError(path, f"expected a reference or a list of references, got {value!r}")


def _ref_paths(group: InputGroup, path: str) -> list[tuple[Ref, str]]:
    if len(group.refs) == 1:
        return [(group.refs[0], f"{path}.{group.field}")]
    return [(ref, f"{path}.{group.field}[{i}]") for i, ref in enumerate(group.refs)]


def _check_names(name: str, groups: tuple[InputGroup, ...], node_names: list[str], path: str) -> None:
    for group in groups:
        for ref, where in _ref_paths(group, path):
            if ref.name == INPUT or ref.name in node_names:
                continue
            close = difflib.get_close_matches(ref.name, [INPUT, *node_names], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SpecError(
                where, f"no node named '{ref.name}'{hint} (inputs are x or one of: {', '.join(node_names)})"
            )


def _check_undelayed_cycles(graph_groups: dict[str, tuple[InputGroup, ...]]) -> None:
    """A cycle through undelayed edges only cannot be run; report it as ``a -> b -> a``."""
    readers: dict[str, list[str]] = {name: [] for name in graph_groups}
    for name, groups in graph_groups.items():
        for group in groups:
            for ref in group.refs:
                if ref.delay == 0 and ref.name != INPUT:
                    readers[ref.name].append(name)
    colour = dict.fromkeys(graph_groups, 0)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(name: str) -> None:
        colour[name] = 1
        stack.append(name)
        for reader in readers[name]:
            if colour[reader] == 1:
                cycle = [*stack[stack.index(reader) :], reader]
                raise SpecError(
                    f"nodes.{reader}.in",
                    f"cycle without a delay: {' -> '.join(cycle)}; read one of these outputs "
                    f"one step late instead (for example '{cycle[-2]}@-1')",
                )
            if colour[reader] == 0:
                visit(reader)
        stack.pop()
        colour[name] = 2

    for name in graph_groups:
        if colour[name] == 0:
            visit(name)


def _structure_node(
    name: str,
    cls: type,
    fields: Mapping[str, Any],
    groups: tuple[InputGroup, ...],
    widths: Mapping[str, int],
) -> tuple[ComponentSpec, list[int]]:
    path = f"nodes.{name}"
    sizes = [sum(widths[ref.name] for ref in group.refs) for group in groups]
    _check_same_width(name, cls, groups, sizes)
    data = dict(fields)
    for derived, value in (("in_features", sum(sizes)), ("input_sizes", tuple(sizes))):
        if derived == "input_sizes" and not getattr(cls, "input_ports", None):
            continue
        if derived in data and data[derived] is not None and _as_tuple(data[derived]) != _as_tuple(value):
            raise SpecError(
                f"{path}.{derived}",
                f"is inferred from the inputs ({value!r}) but the node says {data[derived]!r}; remove it",
            )
        data[derived] = value
    spec = structure(data, cls.spec_cls, path=path)  # type: ignore[attr-defined]
    return spec, sizes


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _check_same_width(name: str, cls: type, groups: tuple[InputGroup, ...], sizes: list[int]) -> None:
    same: tuple[str, ...] = getattr(cls, "same_width", ())
    if not same:
        return
    first: tuple[str, int] | None = None
    for group, size in zip(groups, sizes):
        if group.port not in same:
            continue
        if first is None:
            first = (group.field, size)
        elif size != first[1]:
            raise SpecError(
                f"nodes.{name}.{group.field}",
                f"width {size} does not match {first[0]}'s width {first[1]} "
                f"({', '.join(same)} must all have one width)",
            )


def resolve_graph(graph: GraphSpec, *, warn_unused: bool = True) -> ResolvedGraph:
    """Validate ``graph`` and infer every width; raise :class:`SpecError` naming the path."""
    if graph.in_features is None:
        raise SpecError("in_features", "missing: the width of the graph input x (or pass in_features=N)")
    node_names = list(graph.nodes)
    classes: dict[str, type] = {}
    groups: dict[str, tuple[InputGroup, ...]] = {}
    fields: dict[str, dict[str, Any]] = {}
    for name, node in graph.nodes.items():
        path = f"nodes.{name}"
        classes[name] = _component_class(node, path)
        groups[name], fields[name] = _groups(node, classes[name], path)
    for name in node_names:
        _check_names(name, groups[name], node_names, f"nodes.{name}")
    out_refs = _refs(graph.out, "out")
    for index, ref in enumerate(out_refs):
        if ref.name != INPUT and ref.name not in node_names:
            where = "out" if isinstance(graph.out, str) else f"out[{index}]"
            close = difflib.get_close_matches(ref.name, node_names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SpecError(where, f"no node named '{ref.name}'{hint}")
    _check_undelayed_cycles(groups)

    resolved: dict[str, ResolvedNode] = {}

    def resolve(name: str, widths: Mapping[str, int]) -> int:
        resolved[name] = _resolve_node(name, graph.nodes[name].use, classes[name], fields[name], groups[name], widths)
        return resolved[name].out_features

    def trial(name: str, widths: Mapping[str, int]) -> int:
        spec, _ = _structure_node(name, classes[name], fields[name], groups[name], widths)
        with warnings.catch_warnings():  # a trial build: its nested warnings come later, once
            warnings.simplefilter("ignore", UnusedNodeWarning)
            module = instantiate(classes[name], spec, f"nodes.{name}", meta=True)
        return int(module.out_features)  # type: ignore[arg-type]

    inputs = {
        name: [pair for group in groups[name] for pair in _ref_paths(group, f"nodes.{name}")] for name in node_names
    }
    widths = {INPUT: graph.in_features, **infer_widths(inputs, {INPUT: graph.in_features}, resolve, trial)}
    ordered = {name: resolved[name] for name in node_names}

    history: dict[str, tuple[int, int]] = {}
    for ref in [*(r for n in ordered.values() for r in n.refs), *out_refs]:
        if ref.delay > 0:
            longest = max(ref.delay, history.get(ref.name, (0, 0))[0])
            history[ref.name] = (longest, widths[ref.name])

    unused = _unused(ordered, out_refs)
    if warn_unused:
        for name in unused:
            warnings.warn(
                f"nodes.{name}: unused (neither the output nor any node reads it)",
                UnusedNodeWarning,
                stacklevel=3,
            )
    return ResolvedGraph(
        spec=graph,
        in_features=graph.in_features,
        nodes=ordered,
        out=out_refs,
        out_features=sum(widths[r.name] for r in out_refs),
        history=history,
        unused=unused,
    )


def _resolve_node(
    name: str,
    use: str,
    cls: type,
    fields: Mapping[str, Any],
    groups: tuple[InputGroup, ...],
    widths: Mapping[str, int],
) -> ResolvedNode:
    spec, sizes = _structure_node(name, cls, fields, groups, widths)
    module = instantiate(cls, spec, f"nodes.{name}", meta=True)
    state_spec = module.state_spec() if hasattr(module, "state_spec") else {}  # type: ignore[operator]
    return ResolvedNode(
        name=name,
        use=use,
        cls=cls,
        spec=spec,
        groups=groups,
        in_features=sum(sizes),
        out_features=int(module.out_features),  # type: ignore[arg-type]
        state_spec=state_spec,
        num_parameters=sum(p.numel() for p in module.parameters()),
    )


def _unused(nodes: Mapping[str, ResolvedNode], out_refs: tuple[Ref, ...]) -> tuple[str, ...]:
    reached: set[str] = set()
    frontier = [r.name for r in out_refs if r.name != INPUT]
    while frontier:
        name = frontier.pop()
        if name in reached:
            continue
        reached.add(name)
        frontier.extend(r.name for r in nodes[name].refs if r.name != INPUT)
    return tuple(name for name in nodes if name not in reached)
