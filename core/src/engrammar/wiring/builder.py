"""The Python builder: the same graph spec as a file, written with calls::

    w = Wiring("lstm_ema", in_features=8)
    ctrl = w.node("ctrl", "linear", out_features=16, inputs=[w.x, "mem@-1"])
    mem = w.node("mem", "ema", inputs=ctrl)
    w.node("head", "linear", out_features=8, inputs=[ctrl, mem])
    w.output("head")
    net = w.build()            # a Graph; w.spec() is its GraphSpec, w.to_data() the file form

Nodes keep the order they were added in, so the built model's parameters (names and, under one
seed, values) are those of the same wiring written as a file in the same order.
"""

from __future__ import annotations

from typing import Any

from .graph import Graph
from .refs import INPUT
from .spec import GraphSpec

__all__ = ["NodeRef", "Wiring"]


class NodeRef(str):
    """A node's name, usable wherever a reference is: ``ref.delayed(1)`` is ``"name@-1"``."""

    __slots__ = ()

    def delayed(self, steps: int = 1) -> NodeRef:
        """This node's output ``steps`` steps earlier."""
        if steps < 1:
            raise ValueError(f"a delay must be >= 1 step, got {steps}")
        base = self.split("@", 1)[0]
        return NodeRef(f"{base}@-{steps}")


def _plain(value: Any) -> Any:
    """Plain data for a spec: references as str, tuples as lists."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Wiring:
    """Builds a :class:`GraphSpec` node by node (see the module docstring)."""

    def __init__(self, name: str = "wiring", in_features: int | None = None) -> None:
        self.name = name
        self.in_features = in_features
        self._nodes: dict[str, dict[str, Any]] = {}
        self._out: Any = None

    @property
    def x(self) -> NodeRef:
        """The graph input."""
        return NodeRef(INPUT)

    def node(self, name: str, use: str, *, inputs: Any = None, **fields: Any) -> NodeRef:
        """Add node ``name`` using component ``use`` (a registry name or a wiring file path).

        ``inputs`` is the file form's ``in``: a reference, or a list of them (concatenated).
        ``fields`` are the component's spec fields, and a combinator's named inputs
        (``experts=[a, b], router=ctrl`` for ``moe``)."""
        if name in self._nodes:
            raise ValueError(f"node {name!r} is already defined")
        data: dict[str, Any] = {"use": use}
        if inputs is not None:
            data["in"] = _plain(inputs)
        data.update({key: _plain(value) for key, value in fields.items()})
        self._nodes[name] = data
        return NodeRef(name)

    def output(self, refs: Any) -> None:
        """Set the graph output: a reference or a list of them (concatenated)."""
        self._out = _plain(refs)

    def to_data(self) -> dict[str, Any]:
        """The file form (what ``dump_mapping`` writes as YAML, TOML or JSON)."""
        data: dict[str, Any] = {"name": self.name}
        if self.in_features is not None:
            data["in_features"] = self.in_features
        data["nodes"] = {name: dict(node) for name, node in self._nodes.items()}
        data["out"] = self._out
        return data

    def spec(self) -> GraphSpec:
        return GraphSpec.from_data(self.to_data())

    def build(self, **overrides: Any) -> Graph:
        """Build the graph (keyword overrides are dotted keys, as for ``engrammar.build``)."""
        from .build import build_wiring

        return build_wiring(self.spec(), **overrides)
