"""The execution plan: which nodes run layer-major and which run step-major, in what order.

The nodes and their edges (delayed ones included) are split into strongly connected components.
A component that is a single node without a self-loop has no feedback: it runs **layer-major**
(one call of its ``forward`` over the whole sequence, with its fastest kernel). A component with
feedback (a loop, necessarily through delayed edges: validation rejects the others) runs
**step-major**: one time step through every node of the loop before the next step, calling each
node's ``step``. Stages follow a topological order of the components, ties broken by declaration
order, so the plan (and the printed plan) is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from .refs import INPUT
from .validate import ResolvedGraph

__all__ = ["LAYER_MAJOR", "STEP_MAJOR", "Plan", "Stage", "format_plan", "make_plan", "short_use"]

LAYER_MAJOR = "layer-major"
STEP_MAJOR = "step-major"


@attrs.frozen
class Stage:
    """Nodes run together: one node layer-major, or a loop of nodes step-major (in step order)."""

    mode: str
    nodes: tuple[str, ...]


@attrs.frozen
class Plan:
    stages: tuple[Stage, ...]

    @property
    def order(self) -> tuple[str, ...]:
        """Every node in an order where undelayed inputs come first (the order of one step)."""
        return tuple(name for stage in self.stages for name in stage.nodes)


def _strongly_connected(nodes: list[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative, so deep graphs do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = edges[node]
            if child < len(successors):
                work.append((node, child + 1))
                nxt = successors[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                part: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                found.append(part)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _topological(names: list[str], deps: Mapping[str, set[str]], rank: Mapping[str, int]) -> list[str]:
    """Kahn's algorithm; among the ready ones, the earliest declared goes first."""
    pending = {name: set(deps[name]) for name in names}
    done: list[str] = []
    while pending:
        ready = sorted((n for n, d in pending.items() if not d), key=rank.__getitem__)
        if not ready:  # validation rules this out; say so loudly rather than loop forever
            raise RuntimeError(f"no topological order for {sorted(pending)}")
        first = ready[0]
        done.append(first)
        del pending[first]
        for d in pending.values():
            d.discard(first)
    return done


def make_plan(graph: ResolvedGraph) -> Plan:
    names = list(graph.nodes)
    rank = {name: i for i, name in enumerate(names)}
    feeds: dict[str, list[str]] = {name: [] for name in names}  # source -> readers (all edges)
    for name, node in graph.nodes.items():
        for ref in node.refs:
            if ref.name != INPUT and name not in feeds[ref.name]:
                feeds[ref.name].append(name)
    parts = _strongly_connected(names, feeds)
    part_of = {name: i for i, part in enumerate(parts) for name in part}
    part_deps: dict[str, set[str]] = {str(i): set() for i in range(len(parts))}
    for name, node in graph.nodes.items():
        for ref in node.refs:
            if ref.name != INPUT and part_of[ref.name] != part_of[name]:
                part_deps[str(part_of[name])].add(str(part_of[ref.name]))
    part_rank = {str(i): min(rank[n] for n in part) for i, part in enumerate(parts)}
    stages: list[Stage] = []
    for key in _topological(list(part_deps), part_deps, part_rank):
        members = parts[int(key)]
        looped = len(members) > 1 or members[0] in feeds[members[0]]
        if not looped:
            stages.append(Stage(LAYER_MAJOR, (members[0],)))
            continue
        inside = set(members)
        undelayed = {
            m: {r.name for r in graph.nodes[m].refs if r.delay == 0 and r.name in inside and r.name != m}
            for m in members
        }
        stages.append(Stage(STEP_MAJOR, tuple(_topological(sorted(members, key=rank.__getitem__), undelayed, rank))))
    return Plan(tuple(stages))


def short_use(use: str) -> str:
    """A node's ``use`` for display: a wiring file by its name, not its absolute path."""
    from .loader import is_wiring_path

    return Path(use).name if is_wiring_path(use) else use


def format_plan(graph: ResolvedGraph, plan: Plan) -> str:
    """The plan as text, one line per stage (what ``engrammar build`` prints)."""
    lines = []
    for number, stage in enumerate(plan.stages, start=1):
        described = []
        for name in stage.nodes:
            reads = ", ".join(str(r) for r in graph.nodes[name].refs)
            described.append(f"{name} ({short_use(graph.nodes[name].use)} <- {reads})")
        lines.append(f"{number}. {stage.mode}: " + "; ".join(described))
    lines.append("out <- " + ", ".join(str(r) for r in graph.out))
    return "\n".join(lines)
