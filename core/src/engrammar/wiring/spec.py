"""The graph spec: one attrs description of a wiring, whatever form it was written in.

A wiring is written as YAML, TOML, JSON, a Python dict or with :class:`engrammar.wiring.Wiring`;
every form becomes a :class:`GraphSpec` and :meth:`GraphSpec.to_data` writes it back as plain data
(the file form), so the round trip is lossless::

    name: lstm_dnc
    in_features: 8
    nodes:
      ctrl: {use: lstm, hidden_size: 64, in: [x, mem@-1]}
      mem:  {use: dnc, memory_size: 32, word_size: 16, num_reads: 4, in: ctrl}
      head: {use: linear, out_features: 8, in: [ctrl, mem]}
    out: head

A node is ``use`` (a registry name, or the path of another wiring file), its inputs (``in``; or
the named inputs of a combinator such as ``moe``'s ``router`` and ``experts``), and the spec fields
of its component, which are checked against that component's spec when the wiring is validated.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

import attrs

from ..spec import ComponentSpec, SpecError, converter, ge, join_path, key_name
from .refs import INPUT, is_node_name, parse_ref

__all__ = ["GRAPH_KEYS", "NODE_KEYS", "GraphSpec", "InputsData", "NodeSpec"]

#: Inputs as written: one reference, or a list of references (concatenated) or of such lists.
InputsData = str | tuple[str | tuple[str, ...], ...]

#: Keys of a node that are not fields of its component.
NODE_KEYS = ("use", "in")
#: Keys of a graph.
GRAPH_KEYS = ("name", "in_features", "nodes", "out")
#: Key of the graph state that holds the delayed outputs (not a valid node name, so never clashes).
HISTORY_KEY = "@history"


def _freeze_inputs(value: Any, path: str, *, nested: bool = True) -> InputsData:
    """Check the shape of an inputs value (syntax of every reference) and make it hashable."""
    if isinstance(value, str):
        parse_ref(value, path)
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            raise SpecError(path, "expected at least one input")
        items: list[Any] = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if isinstance(item, (list, tuple)) and nested:
                items.append(_freeze_inputs(item, item_path, nested=False))
            else:
                if not isinstance(item, str):
                    raise SpecError(item_path, f"expected a reference (x, a node name or name@-k), got {item!r}")
                parse_ref(item, item_path)
                items.append(item)
        return tuple(items)
    raise SpecError(path, f"expected a reference or a list of references, got {value!r}")


def _thaw(value: Any) -> Any:
    """Tuples back to lists (plain data for YAML/TOML/JSON)."""
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _freeze(v) for k, v in value.items()}
    return value


@attrs.frozen(kw_only=True)
class NodeSpec:
    """One node: the component it uses, its inputs, and that component's spec fields (as data)."""

    use: str = attrs.field(metadata={"doc": "registry name of the component, or a wiring file path"})
    inputs: InputsData | None = attrs.field(
        default=None, metadata={"doc": "the node's inputs (`in`): x, a node, a list, or name@-k"}
    )
    fields: dict[str, Any] = attrs.field(
        factory=dict, hash=False, metadata={"doc": "spec fields of the component (and its named inputs)"}
    )

    @classmethod
    def from_data(cls, data: Any, path: str = "") -> NodeSpec:
        """A node from its file form ``{use: ..., in: ..., **fields}``."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(path, f"expected a mapping with `use`, `in` and spec fields, got {data!r}")
        if "use" not in data:
            raise SpecError(join_path(path, "use"), "missing: name the component this node uses")
        use = data["use"]
        if not isinstance(use, str) or not use.strip():
            raise SpecError(join_path(path, "use"), f"expected a component name, got {use!r}")
        inputs = None
        if "in" in data and data["in"] is not None:
            inputs = _freeze_inputs(data["in"], join_path(path, "in"))
        # A null field means "the component's default", as in `extends` merges (and TOML, which
        # has no null, can then write every spec).
        fields = {str(k): _freeze(v) for k, v in data.items() if k not in NODE_KEYS and v is not None}
        return cls(use=use, inputs=inputs, fields=fields)

    def to_data(self) -> dict[str, Any]:
        """The file form: ``use``, ``in`` (when given), then the fields in their written order."""
        data: dict[str, Any] = {"use": self.use}
        if self.inputs is not None:
            data["in"] = _thaw(self.inputs)
        data.update(_thaw(self.fields))
        return data


@attrs.frozen(kw_only=True)
class GraphSpec(ComponentSpec):
    """A wiring: named nodes, the graph input ``x`` of width ``in_features``, and the output."""

    name: str = attrs.field(default="wiring", metadata={"doc": "name of the wiring"})
    in_features: int | None = attrs.field(default=None, validator=ge(1), metadata={"doc": "width of the graph input x"})
    nodes: dict[str, Annotated[NodeSpec, "node"]] = attrs.field(
        factory=dict, hash=False, metadata={"doc": "the nodes, by name, in declaration order"}
    )
    out: InputsData = attrs.field(default=(), metadata={"doc": "the output: a reference or a list"})

    @classmethod
    def from_data(cls, data: Any, path: str = "") -> GraphSpec:
        """A graph from its file form. Raises :class:`SpecError` naming the offending path."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(path, f"expected a mapping with name, in_features, nodes and out, got {data!r}")
        for key in data:
            if key not in GRAPH_KEYS:
                close = difflib.get_close_matches(str(key), GRAPH_KEYS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                extra = " (`extends` is resolved when a file is loaded)" if key == "extends" else ""
                raise SpecError(
                    join_path(path, key_name(key)),
                    f"unknown key{hint}{extra} (a wiring has: {', '.join(GRAPH_KEYS)})",
                )
        name = data.get("name", "wiring")
        if not isinstance(name, str):
            raise SpecError(join_path(path, "name"), f"expected a string, got {name!r}")
        in_features = data.get("in_features")
        if in_features is not None and (
            isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1
        ):
            raise SpecError(join_path(path, "in_features"), f"must be an integer >= 1, got {in_features!r}")
        raw_nodes = data.get("nodes")
        if not isinstance(raw_nodes, Mapping) or not raw_nodes:
            raise SpecError(join_path(path, "nodes"), f"expected a mapping of at least one node, got {raw_nodes!r}")
        nodes: dict[str, NodeSpec] = {}
        for node_name, node_data in raw_nodes.items():
            node_path = join_path(path, f"nodes.{key_name(node_name)}")
            if not isinstance(node_name, str) or not is_node_name(node_name):
                raise SpecError(node_path, "a node name must be an identifier (letters, digits, _)")
            if node_name == INPUT:
                raise SpecError(node_path, f"'{INPUT}' is the graph input; give the node another name")
            nodes[node_name] = NodeSpec.from_data(node_data, node_path)
        if "out" not in data or data["out"] is None:
            raise SpecError(join_path(path, "out"), "missing: name the node (or list of nodes) the graph outputs")
        out = _freeze_inputs(data["out"], join_path(path, "out"))
        return cls(name=name, in_features=in_features, nodes=nodes, out=out)

    def to_data(self) -> dict[str, Any]:
        """Plain data in the file form (``name``, ``in_features``, ``nodes``, ``out``)."""
        data: dict[str, Any] = {"name": self.name}
        if self.in_features is not None:
            data["in_features"] = self.in_features
        data["nodes"] = {name: node.to_data() for name, node in self.nodes.items()}
        data["out"] = _thaw(self.out)
        return data

    def evolve(self, **changes: Any) -> GraphSpec:
        return attrs.evolve(self, **changes)


# `engrammar.spec.structure` / `unstructure` use the file form too (round trips of any component's
# spec therefore work for a wiring).
converter.register_unstructure_hook(GraphSpec, lambda spec: spec.to_data())
converter.register_unstructure_hook(NodeSpec, lambda spec: spec.to_data())
converter.register_structure_hook(NodeSpec, lambda data, _: NodeSpec.from_data(data))
converter.register_structure_hook(GraphSpec, lambda data, _: GraphSpec.from_data(data))
