"""A built wiring is a component: ``Graph``.

Its state is the dict of its nodes' states (stateless nodes have none), plus, under ``"@history"``,
the last K outputs of every node read with a delay (K = the largest delay read), so that running
a sequence whole, in chunks with the state carried, or step by step gives the same outputs, and
resets inside a sequence equal fresh starts::

    {"ctrl": {...}, "mem": {...}, "@history": {"mem": Tensor(B, 1, W_mem)}}

Parameters are named ``nodes.<node>.<parameter>`` whatever form the wiring was written in, so a
checkpoint saved from a model built from YAML loads into the same model built in Python.

Auxiliary losses, metrics and traces of the nodes (the load-balancing loss of a ``moe`` node) go
through :func:`engrammar.recording`, like any component's, named by module path
(``nodes.mix.load_balance``); the graph itself keeps nothing.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from ..component import Component
from ..spec import ComponentSpec, SpecError, field, spec
from ..state import State, StateEntry
from ..typechecking import checked_inner_step, typecheck_enabled
from .history import advance_history, delayed_sequence
from .plan import LAYER_MAJOR, Plan, format_plan, make_plan
from .refs import INPUT, Ref
from .spec import HISTORY_KEY, GraphSpec
from .validate import ResolvedGraph, UnusedNodeWarning, instantiate, resolve_graph

__all__ = ["Graph", "WiringFile", "WiringFileSpec", "wiring_class", "wiring_file_class"]

_EMPTY: State = {}
StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


class _Loop:
    """A step-major stage compiled to flat lists, so each step costs little Python.

    Every input piece of a loop node is ``(kind, index, offset)``: kind 0 reads step t of an
    external sequence (from x, an earlier stage, or a delayed earlier stage), kind 1 reads the
    output of a loop node at this step, kind 2 reads a loop node's output ``offset`` steps back
    from the loop's history lists."""

    def __init__(self, graph: Graph, names: tuple[str, ...], needed: set[str]) -> None:
        self.names = names
        position = {name: i for i, name in enumerate(names)}
        resolved = graph.resolved
        self.external: list[Ref] = []
        self.history_sources = [s for s in resolved.history if s in position]
        history_index = {s: i for i, s in enumerate(self.history_sources)}
        self.history_from = [position[s] for s in self.history_sources]
        self.pieces: list[tuple[tuple[int, int, int], ...]] = []
        for name in names:
            pieces = []
            for ref in resolved.nodes[name].refs:
                if ref.name in position and ref.delay == 0:
                    pieces.append((1, position[ref.name], 0))
                elif ref.name in position:
                    pieces.append((2, history_index[ref.name], -ref.delay))
                else:
                    if ref not in self.external:
                        self.external.append(ref)
                    pieces.append((0, self.external.index(ref), 0))
            self.pieces.append(tuple(pieces))
        self.modules = [cast(Component, graph.nodes[name]) for name in names]
        self.steps: list[StepFn] = [module._step for module in self.modules]
        self.stateful = [name in graph.stateful for name in names]
        self.collect = [name in needed for name in names]


class Graph(Component):
    """A wiring of registered components, run as one component (see the module docstring)."""

    spec_cls: ClassVar[type[ComponentSpec]] = GraphSpec

    def __init__(self, spec: GraphSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        if spec is None or isinstance(spec, Mapping):
            spec = GraphSpec.from_data({**(spec or {}), **fields})
            fields = {}
        if isinstance(spec, GraphSpec) and spec.in_features is None and "in_features" not in fields:
            raise SpecError("in_features", "missing: the width of the graph input x (or pass in_features=N)")
        super().__init__(spec, **fields)
        self._setup(self.spec)  # type: ignore[arg-type]

    # ---- construction -----------------------------------------------------------------------

    def _setup(self, graph_spec: GraphSpec, resolved: ResolvedGraph | None = None) -> None:
        resolved = resolved if resolved is not None else resolve_graph(graph_spec)
        # Built in declaration order, so the random initialisation does not depend on the plan.
        # Validation has already warned about nested wirings' unused nodes; do not repeat it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnusedNodeWarning)
            self.nodes = nn.ModuleDict(
                {name: instantiate(node.cls, node.spec, f"nodes.{name}") for name, node in resolved.nodes.items()}
            )
        self._link(graph_spec, resolved)

    def rewire(self, graph_spec: GraphSpec, resolved: ResolvedGraph, modules: Mapping[str, nn.Module]) -> None:
        """Become the wiring ``graph_spec`` (validated as ``resolved``) with ``modules`` as its
        nodes, in place: how a node grows during training (:func:`engrammar.nn.growth.grow_node`).
        Same node names, in the same order; ``in_features`` of the graph unchanged."""
        if list(modules) != list(self.nodes) or list(resolved.nodes) != list(self.nodes):
            raise ValueError("rewire keeps the nodes of the wiring: the same names in the same order")
        if graph_spec.in_features != self.in_features:
            raise ValueError("rewire keeps the wiring's input width")
        for name, module in modules.items():
            if self.nodes[name] is not module:
                self.nodes[name] = module
        self.spec = graph_spec
        self._link(graph_spec, resolved)

    def _link(self, graph_spec: GraphSpec, resolved: ResolvedGraph) -> None:
        """Plan and index the execution of the built nodes ``self.nodes``."""
        self.graph_spec = graph_spec
        self.resolved = resolved
        self.plan: Plan = make_plan(self.resolved)
        self.stateful = [name for name, module in self.nodes.items() if module.state_spec()]  # type: ignore[operator]
        self._refs = {name: node.refs for name, node in self.resolved.nodes.items()}
        self._order = self.plan.order
        self._steps: list[tuple[str, StepFn, tuple[Ref, ...]]] = [
            (name, cast(Component, self.nodes[name])._step, self._refs[name]) for name in self._order
        ]
        readers_outside: dict[str, set[str]] = {}
        for name, refs in self._refs.items():
            for ref in refs:
                readers_outside.setdefault(ref.name, set()).add(name)
        out_names = {r.name for r in self.resolved.out}
        self._stages: list[tuple[str, Any]] = []
        for stage in self.plan.stages:
            if stage.mode == LAYER_MAJOR:
                self._stages.append((LAYER_MAJOR, stage.nodes[0]))
                continue
            inside = set(stage.nodes)
            needed = {n for n in stage.nodes if n in out_names or (readers_outside.get(n, set()) - inside)}
            self._stages.append(("loop", _Loop(self, stage.nodes, needed)))

    # ---- what the protocol asks -------------------------------------------------------------

    @property
    def out_features(self) -> int:
        return self.resolved.out_features

    def state_spec(self) -> dict[str, Any]:
        described: dict[str, Any] = {name: self.nodes[name].state_spec() for name in self.stateful}  # type: ignore[operator]
        if self.resolved.history:
            described[HISTORY_KEY] = {
                source: StateEntry((longest, width), doc=f"last {longest} output(s) of {source}, oldest first")
                for source, (longest, width) in self.resolved.history.items()
            }
        return described

    def init_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        device, dtype = self._placement(device, dtype)
        state: State = {
            name: self.nodes[name].init_state(batch_size, device=device, dtype=dtype)  # type: ignore[operator]
            for name in self.stateful
        }
        if self.resolved.history:
            state[HISTORY_KEY] = {
                source: torch.zeros(batch_size, longest, width, device=device, dtype=dtype)
                for source, (longest, width) in self.resolved.history.items()
            }
        return state

    def reset_samples(self, state: State, mask: Tensor, dtype: torch.dtype | None = None) -> State:
        """Each node resets its own samples (its way); delay buffers of those samples are zeroed."""
        out: State = {
            name: self.nodes[name].reset_samples(node_state, mask, dtype)  # type: ignore[operator]
            if name in self.stateful
            else node_state
            for name, node_state in state.items()
            if name != HISTORY_KEY
        }
        if HISTORY_KEY in state:
            out[HISTORY_KEY] = {
                source: buffer.masked_fill(mask[:, None, None], 0.0) for source, buffer in state[HISTORY_KEY].items()
            }
        return out

    def describe_plan(self) -> str:
        """The execution plan as text (what ``engrammar build`` prints)."""
        return format_plan(self.resolved, self.plan)

    # ---- execution --------------------------------------------------------------------------

    def _sequence(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self._run(x, state, None)

    def _sequence_with_resets(self, x: Tensor, state: State, resets: Tensor) -> tuple[Tensor, State]:
        return self._run(x, state, resets)

    def _run(self, x: Tensor, state: State, resets: Tensor | None) -> tuple[Tensor, State]:
        counts = resets.to(torch.int32).cumsum(1) if resets is not None else None
        history_in: Mapping[str, Tensor] = state.get(HISTORY_KEY, _EMPTY)  # type: ignore[assignment]
        sequences: dict[str, Tensor] = {INPUT: x}
        delayed: dict[Ref, Tensor] = {}
        new_state: State = {}
        new_history: dict[str, Tensor] = {}

        def read(ref: Ref) -> Tensor:
            if ref.delay == 0:
                return sequences[ref.name]
            if ref not in delayed:
                delayed[ref] = delayed_sequence(history_in[ref.name], sequences[ref.name], ref.delay, counts)
            return delayed[ref]

        def gather(refs: tuple[Ref, ...]) -> Tensor:
            if len(refs) == 1:
                return read(refs[0])
            return torch.cat([read(ref) for ref in refs], dim=-1)

        for mode, item in self._stages:
            if mode == LAYER_MAJOR:
                name = item
                y, node_state = self.nodes[name](gather(self._refs[name]), state.get(name, _EMPTY), resets)
                sequences[name] = y
                if name in state:
                    new_state[name] = node_state
            else:
                self._run_loop(item, x, state, resets, read, sequences, new_state, new_history)
        for source in self.resolved.history:
            if source not in new_history:
                new_history[source] = advance_history(history_in[source], sequences[source], counts)
        if new_history:
            new_state[HISTORY_KEY] = new_history
        return gather(self.resolved.out), new_state

    def _run_loop(
        self,
        loop: _Loop,
        x: Tensor,
        state: State,
        resets: Tensor | None,
        read: Any,
        sequences: dict[str, Tensor],
        new_state: State,
        new_history: dict[str, Tensor],
    ) -> None:
        length = x.shape[1]
        external = [read(ref).unbind(1) for ref in loop.external]
        states = [state.get(name, _EMPTY) for name in loop.names]
        history_in: Mapping[str, Tensor] = state.get(HISTORY_KEY, _EMPTY)  # type: ignore[assignment]
        histories = [list(history_in[source].unbind(1)) for source in loop.history_sources]
        outputs: list[list[Tensor]] = [[] for _ in loop.names]
        current: list[Tensor] = [x] * len(loop.names)  # placeholders, overwritten in step order
        reset_steps = resets.any(0).tolist() if resets is not None else None
        steps = [checked_inner_step(m) for m in loop.modules] if typecheck_enabled() else loop.steps
        pieces_of, collect = loop.pieces, loop.collect
        history_from = loop.history_from
        node_range = range(len(loop.names))
        for t in range(length):
            if reset_steps is not None and reset_steps[t]:
                mask = resets[:, t]  # type: ignore[index]
                states = [m.reset_samples(s, mask, x.dtype) if s else s for m, s in zip(loop.modules, states)]
                empty = mask[:, None]
                histories = [[h.masked_fill(empty, 0.0) for h in hist] for hist in histories]
            for i in node_range:
                pieces = pieces_of[i]
                parts = []
                for kind, index, offset in pieces:
                    if kind == 0:
                        parts.append(external[index][t])
                    elif kind == 1:
                        parts.append(current[index])
                    else:
                        parts.append(histories[index][offset])
                y, states[i] = steps[i](parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1), states[i])
                current[i] = y
                if collect[i]:
                    outputs[i].append(y)
            for hist, source_index in zip(histories, history_from):
                hist.append(current[source_index])
                del hist[0]
        for i, name in enumerate(loop.names):
            if loop.stateful[i]:
                new_state[name] = states[i]
            if collect[i]:
                sequences[name] = torch.stack(outputs[i], dim=1)
        for source_name, hist in zip(loop.history_sources, histories):
            new_history[source_name] = torch.stack(hist, dim=1)

    def _step(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        history: Mapping[str, Tensor] = state.get(HISTORY_KEY, _EMPTY)  # type: ignore[assignment]
        values: dict[str, Tensor] = {INPUT: x_t}

        def read(ref: Ref) -> Tensor:
            if ref.delay == 0:
                return values[ref.name]
            buffer = history[ref.name]
            return buffer[:, buffer.shape[1] - ref.delay]

        new_state: State = {}
        steps = self._steps
        if typecheck_enabled():
            steps = [(name, checked_inner_step(self.nodes[name]), refs) for name, _, refs in steps]  # type: ignore[arg-type]
        for name, step, refs in steps:
            inputs = read(refs[0]) if len(refs) == 1 else torch.cat([read(r) for r in refs], dim=-1)
            values[name], node_state = step(inputs, state.get(name, _EMPTY))
            if name in state:
                new_state[name] = node_state
        if history:
            new_state[HISTORY_KEY] = {
                source: torch.cat([buffer[:, 1:], values[source].unsqueeze(1)], dim=1)
                for source, buffer in history.items()
            }
        out = self.resolved.out
        return (read(out[0]) if len(out) == 1 else torch.cat([read(r) for r in out], dim=-1)), new_state

    def extra_repr(self) -> str:
        return f"name={self.graph_spec.name!r}, in_features={self.in_features}, out_features={self.out_features}"


# ---- wirings used by name or by path ----------------------------------------------------------


class _Building(threading.local):
    """The wiring files being built by this thread, outermost first (to report a file that uses
    itself); per thread, so that two threads building the same file do not see a loop."""

    def __init__(self) -> None:
        self.files: list[str] = []


_BUILDING = _Building()


@spec
class WiringFileSpec(ComponentSpec):
    """Fields of a node that uses another wiring (by registered name or by file path)."""

    overrides: dict[str, Any] = field(
        factory=dict, doc="dotted overrides applied to the wiring, e.g. {'nodes.mem.memory_size': 64}"
    )


class WiringFile(Graph):
    """A wiring loaded from a file, usable as a node of another wiring. Subclasses set ``source``
    (made by :func:`wiring_class` or :func:`wiring_file_class`); ``in_features`` comes from the
    parent wiring and replaces the file's."""

    spec_cls: ClassVar[type[ComponentSpec]] = WiringFileSpec
    source: ClassVar[Any] = None

    def __init__(self, spec: WiringFileSpec | Mapping[str, Any] | None = None, **fields: Any) -> None:
        Component.__init__(self, spec, **fields)
        from .build import load_graph_spec, source_data

        # Paths are rooted at the class name, as a component's constructor names them: the parent
        # wiring puts the node's path there (``nodes.block.nodes.ctrl.use``), the registry its name.
        here = type(self).__name__
        if self.source is None:
            raise SpecError(here, "no wiring file set (use wiring_class or wiring_file_class)")
        key = str(self.source)
        building = _BUILDING.files
        if key in building:  # a file using itself, directly or through others, would never end
            chain = " -> ".join(Path(s).name for s in (*building[building.index(key) :], key))
            raise SpecError(f"{here}.use", f"a wiring cannot use itself: {chain}")
        overrides = {**self.spec.overrides, "in_features": self.in_features}  # type: ignore[attr-defined]
        building.append(key)
        try:
            try:
                data = source_data(self.source)
            except SpecError as err:  # the file itself (missing, unreadable, a bad `extends`)
                raise SpecError(f"{here}.use", str(err)) from None
            try:
                self._setup(load_graph_spec(data, overrides))
            except SpecError as err:
                raise err.under(here) from None
        finally:
            building.pop()


def wiring_class(package: str, resource: str, name: str | None = None) -> type[WiringFile]:
    """A component class for a wiring file shipped inside ``package``; point an entry point at it::

        # my_package/wirings.py
        from engrammar.wiring import wiring_class
        LstmEma = wiring_class(__package__, "lstm_ema.yaml")

        # pyproject.toml
        [project.entry-points."engrammar.layers"]
        lstm_ema = "my_package.wirings:LstmEma"

    and ``use: lstm_ema`` works in any wiring, like a component of a plugin.
    """
    path = resources.files(package).joinpath(resource)
    cls_name = name or "".join(part.title() for part in Path(resource).stem.replace("-", "_").split("_"))
    doc = f"Wiring {resource} of {package}."
    return type(cls_name, (WiringFile,), {"source": path, "__doc__": doc, "__module__": package})


@cache
def wiring_file_class(path: str) -> type[WiringFile]:
    """A component class for a wiring file named by path (``use: blocks/residual_ema.yaml``)."""
    stem = Path(path).stem
    return type(f"WiringFile_{stem}", (WiringFile,), {"source": Path(path), "__doc__": f"Wiring {path}."})
