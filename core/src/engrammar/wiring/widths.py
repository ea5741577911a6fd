"""Width inference: the input and output width of every node, found before any parameter exists.

A node's output width comes from building its component (on the meta device) once the widths of
its inputs are known, so outside loops widths simply follow the data. A loop (nodes that read
each other, closed by a delayed edge) has no first node. It is opened at a node whose output width
does not depend on its input width (a linear layer's is ``out_features``, an LSTM's
``hidden_size``): that node is *probed*, built with several guessed widths for the inputs not yet
known; when every guess gives one output width, that is its width, and the rest of the loop follows
from it. So a loop is inferred whichever node its delayed edge enters, as long as one of its nodes
fixes a width; a loop in which every node's width follows its input is reported with the cycle
named. When a probed node's real input widths are known it is built again and must give the width
its readers were given.

This module is the graph logic only; :mod:`engrammar.wiring.validate` supplies how a node is built.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence

from ..spec import SpecError
from .refs import Ref

__all__ = ["GUESSES", "infer_widths"]

#: Widths tried for a probed node's unknown inputs. Several, so that a component that refuses some
#: widths (an even width only, say) can still show that its output width does not follow them.
GUESSES = (1, 2, 3, 8)

#: ``(reference, where it is written)``, e.g. ``(Ref("mem", 1), "nodes.ctrl.in[1]")``
Input = tuple[Ref, str]
#: builds a node from the widths of the graph's sources and returns its output width
BuildNode = Callable[[str, Mapping[str, int]], int]


def infer_widths(
    inputs: Mapping[str, Sequence[Input]],
    known: Mapping[str, int],
    resolve: BuildNode,
    trial: BuildNode,
) -> dict[str, int]:
    """Output widths of every node of ``inputs`` (node -> what it reads, in declaration order).

    ``known`` holds the widths of the sources outside the nodes (the graph input ``x``).
    ``resolve(name, widths)`` builds a node for real, once; ``trial(name, widths)`` builds it with
    guessed input widths while a loop is being opened (its errors are expected). Raises
    :class:`SpecError` naming the loop whose widths cannot be inferred.
    """
    widths = dict(known)
    assumed: dict[str, int] = {}  # probed nodes: the width their readers were given
    remaining = list(inputs)
    while remaining:
        ready = [name for name in remaining if all(ref.name in widths for ref, _ in inputs[name])]
        for name in ready:
            width = resolve(name, widths)
            if name in assumed and width != assumed[name]:
                raise SpecError(
                    f"nodes.{name}",
                    f"output width {width} differs from the width {assumed[name]} it gave for every guessed "
                    "input width; its output width depends on its input width, so open the loop at another node",
                )
            widths[name] = width
            remaining.remove(name)
        if ready:
            continue
        loop = _first_open_loop(inputs, remaining, widths)
        name, width = _probe(loop, inputs, widths, trial)
        assumed[name] = width
        widths[name] = width
    return {name: widths[name] for name in inputs}


def _first_open_loop(
    inputs: Mapping[str, Sequence[Input]], remaining: list[str], widths: Mapping[str, int]
) -> list[str]:
    """The nodes (in declaration order) of a loop that waits on nothing but itself: every node not
    yet resolved waits on one that is not, so following the waits back always ends in such a loop."""
    unknown = [name for name in remaining if name not in widths]
    readers: dict[str, set[str]] = {name: set() for name in unknown}
    for name in remaining:
        for ref, _ in inputs[name]:
            if ref.name in readers:
                readers[ref.name].add(name)
    reach = {name: _reachable(name, readers) for name in unknown}
    for name in unknown:
        if name not in reach[name]:
            continue  # not on a loop: it waits on one
        upstream = {other for other in unknown if name in reach[other]}
        loop = {other for other in upstream if other in reach[name]}
        if upstream <= loop:
            return [other for other in unknown if other in loop]
    raise AssertionError("a graph that waits must contain a loop")  # pragma: no cover


def _reachable(start: str, readers: Mapping[str, set[str]]) -> set[str]:
    """Nodes reached from ``start`` by one edge or more."""
    seen: set[str] = set()
    frontier = list(readers.get(start, ()))
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier.extend(readers.get(name, ()))
    return seen


def _probe(
    loop: list[str], inputs: Mapping[str, Sequence[Input]], widths: Mapping[str, int], trial: BuildNode
) -> tuple[str, int]:
    """The first node of ``loop`` whose output width is the same for every guessed input width."""
    for name in loop:
        unknown = {ref.name for ref, _ in inputs[name] if ref.name not in widths}
        outcomes: list[int | SpecError] = []
        for guess in GUESSES:
            try:
                outcomes.append(trial(name, {**widths, **dict.fromkeys(unknown, guess)}))
            except SpecError as err:
                outcomes.append(err)
        found = {outcome for outcome in outcomes if isinstance(outcome, int)}
        if len(found) == 1 and sum(isinstance(outcome, int) for outcome in outcomes) >= 2:
            return name, found.pop()
        errors = [outcome for outcome in outcomes if isinstance(outcome, SpecError)]
        if len(errors) == len(outcomes) and len({str(err) for err in errors}) == 1:
            raise errors[0]  # wrong whatever its input width: a mistake in the node itself
    where, cycle = _named_cycle(loop, inputs)
    raise SpecError(
        where,
        f"cannot infer the widths in the loop {' -> '.join(cycle)}: every node in it has an output width "
        "that depends on its input width; put a node with a fixed output width (a linear layer, a "
        "controller) in the loop",
    )


def _named_cycle(loop: list[str], inputs: Mapping[str, Sequence[Input]]) -> tuple[str, list[str]]:
    """A shortest cycle of ``loop`` through the first delayed edge that closes it: where that edge
    is written, and the nodes in the order data flows (``a -> b -> a``)."""
    members = set(loop)
    for start in loop:
        for ref, where in inputs[start]:
            if ref.delay > 0 and ref.name in members:
                return where, [*_shortest_path(start, ref.name, inputs, members), start]
    raise AssertionError("a loop closes through a delayed edge")  # pragma: no cover


def _shortest_path(start: str, end: str, inputs: Mapping[str, Sequence[Input]], members: set[str]) -> list[str]:
    """Nodes from ``start`` to ``end`` following the data (a node to those that read it)."""
    readers: dict[str, list[str]] = {name: [] for name in members}
    for name in members:
        for ref, _ in inputs[name]:
            if ref.name in members and name not in readers[ref.name]:
                readers[ref.name].append(name)
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if name == end:
            break
        for reader in readers[name]:
            if reader not in previous:
                previous[reader] = name
                queue.append(reader)
    path: list[str] = []
    step: str | None = end
    while step is not None:
        path.append(step)
        step = previous[step]
    return path[::-1]
