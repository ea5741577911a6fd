"""Growing a component's hidden width during training (neurogenesis).

The protocol is one method. A component that can grow implements::

    def grow(self, amount: int, *, generator: torch.Generator, outgoing_std: float) -> Growth

and returns a *new* component (``self`` is left as it was) whose hidden width is ``amount`` units
larger, with the same function: the new units' incoming weights (and biases) are zero, so they
start silent, and their outgoing weights are small random numbers (normal, ``outgoing_std``), so
that gradients reach them. The :class:`Growth` it returns says where every old parameter entry
sits in its larger replacement (so an optimizer's moments can follow), where the old output
features sit in the new output (when the output is the hidden width), and how to widen a carried
state. :func:`place` and :func:`build_empty` are the helpers a ``grow`` is written with.

Inside a wiring, :func:`grow_node` grows one node and widens every node that reads it: a reader's
parameters along its input axis get the new units' outgoing weights (small random), everything
else of the reader is kept (the very same parameter objects). The wiring's spec is updated (the
grown node's field, ``hidden_size``), so the grown model is rebuilt from its saved spec with the
widths re-inferred, and a checkpoint of it loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import Tensor, nn

from ..spec import SpecError, unstructure

if TYPE_CHECKING:  # pragma: no cover
    from ..component import Component
    from ..wiring.graph import Graph

__all__ = ["Growth", "Resized", "build_empty", "can_grow", "grow_node", "place", "widen_input"]

State = dict[str, Any]


@attrs.frozen(eq=False)
class Resized:
    """A parameter replaced by a larger one. ``positions[d]`` (a LongTensor of length
    ``old.shape[d]``) gives, for each index of ``old`` along dimension ``d``, its index in
    ``new``; every other entry of ``new`` is new."""

    name: str
    old: Tensor
    new: Tensor
    positions: tuple[Tensor, ...]

    def embed(self, values: Tensor, fill: float = 0.0) -> Tensor:
        """A tensor of ``new``'s shape: ``values`` (``old``'s shape) at the old entries' positions,
        ``fill`` elsewhere (zero: the moments of an optimizer start afresh for new entries)."""
        out = values.new_full(self.new.shape, fill)
        return place(values, self.positions, out)

    def renamed(self, prefix: str) -> Resized:
        return attrs.evolve(self, name=f"{prefix}.{self.name}" if prefix else self.name)


@attrs.frozen(eq=False)
class Growth:
    """What growing did.

    ``component``: the grown component. ``resized``: every parameter that was replaced (names
    relative to ``component``); parameters not listed are the same objects as before.
    ``output_positions``: where the old output features sit in the new output, or ``None`` when
    the output width did not change. ``widen_state(state)``: the state of the old component,
    widened for the new one (new units start from the initial state). ``silent``: the new units
    output zero (so their outgoing weights into readers may be random); when false, readers get
    zero weights from them, which keeps the function as well.
    """

    component: Any
    resized: tuple[Resized, ...]
    output_positions: Tensor | None
    widen_state: Callable[[State], State]
    silent: bool = True


def can_grow(module: nn.Module) -> bool:
    """Whether ``module`` implements the growth protocol (a ``grow`` method)."""
    return callable(getattr(module, "grow", None))


def place(values: Tensor, positions: Sequence[Tensor], into: Tensor) -> Tensor:
    """Write ``values`` into ``into`` at ``positions`` (one index tensor per dimension: entry
    ``values[i, j, ...]`` goes to ``into[positions[0][i], positions[1][j], ...]``); returns ``into``."""
    if len(positions) != values.dim() or values.dim() != into.dim():
        raise ValueError(f"{len(positions)} position tensors for a {values.dim()}-d tensor into a {into.dim()}-d one")
    if values.dim() == 0:
        into.copy_(values)
        return into
    index = torch.meshgrid(*(p.to(into.device) for p in positions), indexing="ij")
    into[index] = values.to(into.dtype)
    return into


def build_empty(cls: type, spec: Any, like: nn.Module) -> nn.Module:
    """``cls(spec)`` built without drawing random numbers, on the device and in the floating
    dtype of ``like``'s parameters; its parameters and buffers hold garbage until filled."""
    with torch.device("meta"):
        module: nn.Module = cls(spec)
    device, dtype = _placement(like)
    module = module.to_empty(device=device)
    return module.to(dtype=dtype) if dtype is not None else module


def _placement(module: nn.Module) -> tuple[torch.device, torch.dtype | None]:
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), None


def set_parameter(module: nn.Module, name: str, value: nn.Parameter) -> None:
    """Replace the parameter ``name`` (dotted) of ``module`` by ``value``."""
    owner_name, _, attribute = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, attribute, value)


def _set_buffer(module: nn.Module, name: str, value: Tensor) -> None:
    owner_name, _, attribute = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    owner._buffers[attribute] = value


def outgoing(shape: Sequence[int], std: float, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Small random weights (normal, ``std``) of ``shape`` on ``like``'s device and dtype."""
    return (torch.randn(tuple(shape), generator=generator) * std).to(device=like.device, dtype=like.dtype)


def widen_input(
    component: nn.Module,
    new_spec: Any,
    positions: Tensor,
    *,
    generator: torch.Generator | None,
    outgoing_std: float,
    path: str = "",
) -> tuple[nn.Module, list[Resized]]:
    """``component`` rebuilt for a wider input (``new_spec``: the same spec with the new
    ``in_features``, and ``input_sizes`` for a combinator), its function kept.

    ``positions``: where the old input features sit in the new input. Parameters whose shape
    does not change are kept (the same objects); one that changes must change along its input
    axis only (size ``in_features`` before and after): its old entries keep their values and the
    new input features' weights are small random numbers. Anything else raises a
    :class:`SpecError` at ``path``. Works for any component built from its spec; none opts in."""
    old_in, new_in = component.in_features, new_spec.in_features
    new = build_empty(type(component), new_spec, like=component)
    if int(new.out_features) != int(component.out_features):  # type: ignore[arg-type]
        raise SpecError(path, "its output width depends on its input width; a wider input would widen it too")
    old_parameters = dict(component.named_parameters(remove_duplicate=False))
    resized: list[Resized] = []
    for name, fresh in list(new.named_parameters(remove_duplicate=False)):
        old = old_parameters.get(name)
        if old is None:
            raise SpecError(path, f"built for a wider input it has a parameter {name!r} it had not before")
        if old.shape == fresh.shape:
            set_parameter(new, name, old)
            continue
        changed = [d for d in range(old.dim()) if old.dim() == fresh.dim() and old.shape[d] != fresh.shape[d]]
        if not changed or any(old.shape[d] != old_in or fresh.shape[d] != new_in for d in changed):
            raise SpecError(
                path,
                f"cannot widen its input: parameter {name!r} goes from {tuple(old.shape)} to "
                f"{tuple(fresh.shape)}, not along its input axis ({old_in} -> {new_in} features)",
            )
        where = tuple(positions if d in changed else torch.arange(old.shape[d]) for d in range(old.dim()))
        values = place(old.detach(), where, outgoing(fresh.shape, outgoing_std, generator, old))
        parameter = nn.Parameter(values, requires_grad=old.requires_grad)
        set_parameter(new, name, parameter)
        resized.append(Resized(name, old, parameter, where))
    old_buffers = dict(component.named_buffers())
    for name, fresh_buffer in list(new.named_buffers()):
        old_buffer = old_buffers.get(name)
        if old_buffer is None or old_buffer.shape != fresh_buffer.shape:
            raise SpecError(path, f"cannot widen its input: buffer {name!r} depends on the input width")
        _set_buffer(new, name, old_buffer)
    return new, resized


def state_widener(new: Component, positions: Mapping[str, Any]) -> Callable[[State], State]:
    """A ``widen_state`` for a grown component: ``positions`` maps each state entry that grew to
    one position tensor (or ``None``: unchanged) per per-sample dimension; nested for composites.
    New entries take the new component's initial state."""

    def widen(state: State) -> State:
        if not state:
            return state
        first = _first_tensor(state)
        initial = new.init_state(first.shape[0], device=first.device, dtype=_float_dtype(state, first.dtype))
        return _widen(state, initial, positions)

    return widen


def _widen(state: Mapping[str, Any], initial: Mapping[str, Any], positions: Mapping[str, Any]) -> State:
    out: State = {}
    for key, value in state.items():
        where = positions.get(key)
        if isinstance(value, Mapping):
            out[key] = _widen(value, initial[key], where or {})
        elif where is None:
            out[key] = value
        else:
            batch = torch.arange(value.shape[0])
            dims = [torch.arange(size) if p is None else p for size, p in zip(value.shape[1:], where)]
            out[key] = place(value, [batch, *dims], initial[key].clone())
    return out


def _first_tensor(state: Mapping[str, Any]) -> Tensor:
    for value in state.values():
        if isinstance(value, Mapping):
            return _first_tensor(value)
        return value  # type: ignore[no-any-return]
    raise ValueError("empty state")


def _float_dtype(state: Mapping[str, Any], default: torch.dtype) -> torch.dtype:
    for value in state.values():
        if isinstance(value, Mapping):
            return _float_dtype(value, default)
        if value.is_floating_point():
            return value.dtype  # type: ignore[no-any-return]
    return default


# ---- growing a node of a wiring ----------------------------------------------------------------


def grow_node(
    graph: Graph,
    node: str,
    amount: int,
    *,
    generator: torch.Generator | None = None,
    outgoing_std: float = 0.01,
) -> Growth:
    """Grow node ``node`` of ``graph`` by ``amount`` units, in place, and widen its readers.

    The graph keeps its identity (an optimizer or a training loop holding it keeps working; the
    replaced parameters are listed in the result, named from the graph: ``nodes.ctrl.rnn.weight_hh_l0``),
    its spec records the new width, and its function is unchanged. Errors (a node that cannot grow,
    a reader that cannot widen, a node feeding the graph's output) are :class:`SpecError` naming the
    node, raised before anything changes."""
    from ..wiring.graph import Graph, WiringFile
    from ..wiring.refs import INPUT
    from ..wiring.spec import HISTORY_KEY
    from ..wiring.validate import resolve_graph

    if not isinstance(graph, Graph) or isinstance(graph, WiringFile):
        raise TypeError(f"grow_node grows a node of a wiring built from its spec, not a {type(graph).__name__}")
    name = node.removeprefix("nodes.")
    path = f"nodes.{name}"
    if name not in graph.nodes:
        raise SpecError(path, f"no node named {name!r} (nodes: {', '.join(graph.nodes)})")
    if amount < 1:
        raise SpecError(path, f"can only grow by at least 1 unit, got {amount}")
    module = graph.nodes[name]
    use = graph.graph_spec.nodes[name].use
    if not can_grow(module):
        raise SpecError(
            path,
            f"{use!r} ({type(module).__name__}) cannot grow: it does not implement grow(amount) "
            "(the growth protocol, docs/protocol.md)",
        )
    growth: Growth = module.grow(amount, generator=generator, outgoing_std=outgoing_std)  # type: ignore[operator]
    grown = growth.component
    output_positions = growth.output_positions  # None: the node's output width is unchanged

    old_fields = unstructure(module.spec)
    changed = {k: v for k, v in unstructure(grown.spec).items() if k != "in_features" and old_fields.get(k) != v}
    old_node = graph.graph_spec.nodes[name]
    new_node = attrs.evolve(old_node, fields={**old_node.fields, **changed})
    new_spec = graph.graph_spec.evolve(nodes={**graph.graph_spec.nodes, name: new_node})
    try:
        resolved = resolve_graph(new_spec, warn_unused=False)
    except SpecError as err:
        raise SpecError(err.path, f"{err.rule} (after growing {path} by {amount})") from None
    if resolved.out_features != graph.out_features:
        raise SpecError(
            path,
            "feeds the wiring's output, whose width would change; read it through another node "
            "(a linear head, say) to grow it",
        )

    old_widths = {INPUT: graph.in_features, **{n: r.out_features for n, r in graph.resolved.nodes.items()}}
    new_widths = {INPUT: graph.in_features, **{n: r.out_features for n, r in resolved.nodes.items()}}
    modules: dict[str, nn.Module] = {n: graph.nodes[n] for n in graph.nodes}
    modules[name] = grown
    resized: dict[str, Resized] = {f"{path}.{r.name}": r.renamed(path) for r in growth.resized}
    for reader, target in resolved.nodes.items():
        if target.spec == graph.resolved.nodes[reader].spec and reader != name:
            continue
        if reader == name and target.spec == grown.spec:
            continue
        layout: list[Tensor] = []
        offset = 0
        for ref in target.refs:
            if ref.name == name and output_positions is not None:
                layout.append(output_positions + offset)
            else:
                layout.append(torch.arange(old_widths[ref.name]) + offset)
            offset += new_widths[ref.name]
        reader_path = f"nodes.{reader}"
        widened, more = widen_input(
            modules[reader],
            target.spec,
            torch.cat(layout),
            generator=generator,
            outgoing_std=outgoing_std if growth.silent else 0.0,
            path=reader_path,
        )
        modules[reader] = widened
        for item in more:
            key = f"{reader_path}.{item.name}"
            first = resized.get(key)
            resized[key] = (
                _compose(first, item.renamed(reader_path)) if first is not None else item.renamed(reader_path)
            )

    old_history = dict(graph.resolved.history)
    graph.rewire(new_spec, resolved, modules)

    def widen_state(state: State) -> State:
        out: State = {}
        for key, value in state.items():
            if key == name:
                out[key] = growth.widen_state(value)
            elif key == HISTORY_KEY:
                out[key] = {
                    source: _widen_history(buffer, output_positions, new_widths[source])
                    if source == name and output_positions is not None and source in old_history
                    else buffer
                    for source, buffer in value.items()
                }
            else:
                out[key] = value
        return out

    return Growth(component=graph, resized=tuple(resized.values()), output_positions=None, widen_state=widen_state)


def _widen_history(buffer: Tensor, positions: Tensor, width: int) -> Tensor:
    # The new units' past outputs are zero: they were silent (and did not exist).
    out = buffer.new_zeros(*buffer.shape[:-1], width)
    out[..., positions.to(buffer.device)] = buffer
    return out


def _compose(first: Resized, second: Resized) -> Resized:
    """``first`` (old -> middle) then ``second`` (middle -> new): one replacement old -> new.
    Entries new in both steps along two or more dimensions connect new units to new units
    (a node reading its own delayed output): they are incoming weights of new units, so zero."""
    positions = tuple(p2[p1] for p1, p2 in zip(first.positions, second.positions))
    with torch.no_grad():
        fresh = [torch.ones(size, dtype=torch.bool) for size in second.new.shape]
        for d, p in enumerate(positions):
            fresh[d][p] = False
        count = torch.zeros(tuple(second.new.shape), dtype=torch.int64)
        for d, mask in enumerate(fresh):
            shape = [1] * len(fresh)
            shape[d] = -1
            count = count + mask.view(shape).to(torch.int64)
        second.new.data[(count >= 2).to(second.new.device)] = 0
    return Resized(second.name, first.old, second.new, positions)
