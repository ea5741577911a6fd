"""The execution engine against an independent step-by-step interpreter, on plans that mix several
loops, self-loops, layer-major nodes reading loop nodes with a delay, long delays across chunk
boundaries and resets at t=0, on consecutive steps and at chunk starts."""

from __future__ import annotations

import itertools

import pytest
import torch
from engrammar.wiring import Graph, Wiring, build_wiring, load_graph_spec, resolve_graph
from engrammar.wiring.plan import LAYER_MAJOR, STEP_MAJOR
from engrammar.wiring.refs import INPUT


def interpret(graph: Graph, x: torch.Tensor, resets: torch.Tensor | None = None) -> torch.Tensor:
    """The graph run from a fresh start without any of the engine's code: one time step at a time,
    each node through its public ``step`` (which applies its own reset), delayed reads from plain
    per-node lists of past outputs that a reset empties (zeros) for that sample."""
    resolved = graph.resolved
    order: list[str] = []
    while len(order) < len(resolved.nodes):  # undelayed inputs first
        for name, node in resolved.nodes.items():
            if name not in order and all(r.delay > 0 or r.name in (INPUT, *order) for r in node.refs):
                order.append(name)
    batch, length, _ = x.shape
    widths = {INPUT: x.shape[-1], **{name: node.out_features for name, node in resolved.nodes.items()}}
    every_ref = [*(r for node in resolved.nodes.values() for r in node.refs), *resolved.out]
    longest = {name: max([r.delay for r in every_ref if r.name == name] + [0]) for name in widths}
    past = {name: [torch.zeros(batch, widths[name], dtype=x.dtype) for _ in range(k)] for name, k in longest.items()}
    states: dict[str, object] = dict.fromkeys(order)
    outputs = []
    for t in range(length):
        reset = resets[:, t] if resets is not None else torch.zeros(batch, dtype=torch.bool)
        keep = (~reset).to(x.dtype)[:, None]
        past = {name: [p * keep for p in buffer] for name, buffer in past.items()}
        now = {INPUT: x[:, t]}
        for name in order:
            inputs = torch.cat([_read(r, now, past) for r in resolved.nodes[name].refs], dim=-1)
            now[name], states[name] = graph.nodes[name].step(inputs, states[name], reset)
        outputs.append(torch.cat([_read(r, now, past) for r in resolved.out], dim=-1))
        past = {name: [*buffer[1:], now[name]] if buffer else buffer for name, buffer in past.items()}
    return torch.stack(outputs, dim=1)


def _read(ref, now, past):
    return now[ref.name] if ref.delay == 0 else past[ref.name][len(past[ref.name]) - ref.delay]


def two_loops_and_delayed_readers() -> Graph:
    """Two loops (one of them a node reading itself), the second reading the first with a delay,
    layer-major nodes reading loop nodes with delays up to 4, x read with a delay."""
    w = Wiring("mixed", in_features=3)
    w.node("pre", "linear", out_features=4, inputs=["x", "x@-2"])
    w.node("ctrl", "linear", out_features=4, inputs=["pre", "mem@-1", "mem@-3"])
    w.node("mem", "ema", init_decay=0.6, inputs="ctrl")
    w.node("solo", "linear", out_features=3, inputs=["mem@-2", "solo@-1", "solo@-4"])
    w.node("late", "linear", out_features=2, inputs=["mem@-4", "solo@-1", "ctrl"])
    w.node("acc", "ema", init_decay=0.8, inputs=["late", "pre@-1"])
    w.output(["acc", "mem@-1", "solo"])
    torch.manual_seed(1)
    return w.build().double()


def self_loop_only() -> Graph:
    """Two nodes reading themselves (delays 1, 2 and 3), with a layer-major node between."""
    w = Wiring("self", in_features=2)
    w.node("rnn", "linear", out_features=3, inputs=["x", "rnn@-1", "rnn@-2"])
    w.node("avg", "ema", inputs="rnn")
    w.node("head", "linear", out_features=2, inputs=["avg", "head@-3"])
    w.output("head")
    torch.manual_seed(2)
    return w.build().double()


GRAPHS = {"two_loops": two_loops_and_delayed_readers, "self_loop": self_loop_only}


def test_the_mixed_graph_has_the_plan_it_is_meant_to_test() -> None:
    assert [(s.mode, s.nodes) for s in self_loop_only().plan.stages] == [
        (STEP_MAJOR, ("rnn",)),
        (LAYER_MAJOR, ("avg",)),
        (STEP_MAJOR, ("head",)),
    ]
    graph = two_loops_and_delayed_readers()
    assert [(s.mode, s.nodes) for s in graph.plan.stages] == [
        (LAYER_MAJOR, ("pre",)),
        (STEP_MAJOR, ("ctrl", "mem")),
        (STEP_MAJOR, ("solo",)),
        (LAYER_MAJOR, ("late",)),
        (LAYER_MAJOR, ("acc",)),
    ]
    assert graph.resolved.history == {"x": (2, 3), "mem": (4, 4), "solo": (4, 3), "pre": (1, 4)}


def some_resets(batch: int, length: int) -> torch.Tensor:
    resets = torch.zeros(batch, length, dtype=torch.bool)
    resets[0, 0] = True  # at t=0 (on a warm state)
    resets[1, 4] = resets[1, 5] = resets[1, 6] = True  # consecutive steps
    resets[2, 7] = True  # at a chunk start below
    resets[2, 9] = True  # inside a chunk, two steps later
    return resets


@pytest.mark.parametrize("make", list(GRAPHS.values()), ids=list(GRAPHS))
@pytest.mark.parametrize("with_resets", [False, True])
def test_engine_matches_the_step_by_step_interpreter(make, with_resets) -> None:
    graph = make()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 13, graph.in_features, generator=gen, dtype=torch.float64)
    resets = some_resets(3, 13) if with_resets else None
    expected = interpret(graph, x, resets)
    y, _ = graph(x, None, resets)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", list(GRAPHS.values()), ids=list(GRAPHS))
@pytest.mark.parametrize("bounds", [(0, 1, 2, 7, 13), (0, 3, 7, 8, 13), (0, 13)])
def test_whole_chunked_and_stepped_agree_with_resets_and_a_warm_state(make, bounds) -> None:
    graph = make()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 13, graph.in_features, generator=gen, dtype=torch.float64)
    _, warm = graph(torch.randn(3, 6, graph.in_features, generator=gen, dtype=torch.float64))
    resets = some_resets(3, 13)
    whole, final = graph(x, warm, resets)
    pieces, state = [], warm
    for start, stop in itertools.pairwise(bounds):
        y, state = graph(x[:, start:stop], state, resets[:, start:stop])
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=1e-10, atol=1e-12)
    steps, state = [], warm
    for t in range(13):
        y_t, state = graph.step(x[:, t], state, resets[:, t])
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, dim=1), whole, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=1e-10, atol=1e-12)
    # the warm state matters (so the resets below are not trivially true) ...
    cold, _ = graph(x, None, resets)
    assert not torch.allclose(cold[2, :7], whole[2, :7])
    # ... and after a reset a sample equals a fresh run from there, whatever came before
    for sample, start in ((0, 0), (1, 6), (2, 9)):
        fresh, _ = graph(x[sample : sample + 1, start:])
        torch.testing.assert_close(whole[sample : sample + 1, start:], fresh, rtol=1e-10, atol=1e-12)


def test_incoming_history_is_read_by_delayed_edges() -> None:
    """Changing only the history in the incoming state changes the outputs from the first step."""
    graph = self_loop_only()
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    state = graph.init_state(2)
    y0, _ = graph(x, state)
    state["@history"]["head"] = torch.randn_like(state["@history"]["head"])
    y1, _ = graph(x, state)
    assert not torch.allclose(y0[:, 0], y1[:, 0])


def test_validation_draws_no_random_numbers(tmp_path) -> None:
    """Widths are inferred on the meta device (docs/wiring.md), so under one seed the parameters
    are those of the nodes built alone, in declaration order: validation takes nothing from the
    generator, even through a nested wiring and width probing in a loop."""
    (tmp_path / "inner.yaml").write_text("name: inner\nnodes:\n  a: {use: linear, out_features: 3, in: x}\nout: a\n")
    spec = {
        "name": "outer",
        "in_features": 2,
        "nodes": {
            "c": {"use": str(tmp_path / "inner.yaml"), "in": ["x", "loop@-1"]},
            "loop": {"use": "moe", "router": "c", "experts": ["c", "c"]},
        },
        "out": "loop",
    }
    torch.manual_seed(5)
    before = torch.get_rng_state()
    resolve_graph(load_graph_spec(spec))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(5)
    graph = build_wiring(spec)
    torch.manual_seed(5)
    alone = torch.nn.Linear(5, 3)  # what c's inner linear draws first, built by itself
    torch.testing.assert_close(graph.nodes["c"].nodes["a"].proj.weight, alone.weight)
