"""``moe`` with a router from the registry (core alone: the router is registered at run time).

The router here is a round robin over the experts whose position is its state, so the tests see
moe carry a router's state through chunks, steps, resets and a graph; the built-in router stays
the default, and every misuse is named at its path."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from engrammar import Router, RouterSpec, SpecError, recording, register, report_loss, unregister
from engrammar.registry import build
from engrammar.state import StateEntry
from engrammar.testing import conformance_tests
from engrammar.wiring import build_wiring


class RoundRobinRouter(Router):
    """Token n of a sequence goes to expert n mod E with weight 1; reports a loss of 1 per token."""

    spec_cls = RouterSpec

    def state_spec(self) -> dict[str, Any]:
        return {"position": StateEntry((), dtype="int64")}

    def _sequence(self, x, state):
        positions = state["position"].unsqueeze(1) + torch.arange(x.shape[1])
        report_loss(self, "tokens", torch.tensor(float(x.shape[0] * x.shape[1])))
        weights = torch.nn.functional.one_hot(positions % self.spec.num_experts, self.spec.num_experts)
        return weights.to(x.dtype), {"position": state["position"] + x.shape[1]}

    def _step(self, x_t, state):
        y, state = self._sequence(x_t.unsqueeze(1), state)
        return y[:, 0], state


class NotARouter(Router):
    """A component whose spec has no field for the number of choices."""

    spec_cls = RouterSpec
    choices_field = "num_slots"


@pytest.fixture(autouse=True)
def registered():
    register("routers", "round_robin_for_tests")(RoundRobinRouter)
    register("routers", "not_a_router_for_tests")(NotARouter)
    yield
    unregister("round_robin_for_tests")
    unregister("not_a_router_for_tests")


def mixture(router: Any = None, **fields: Any) -> dict:
    """A wiring: x -> ctrl -> two ema experts, mixed by moe with ``router`` (a port value)."""
    mix = {"use": "moe", "router": router if router is not None else "ctrl", "experts": ["fast", "slow"], **fields}
    return {
        "name": "mixture",
        "in_features": 3,
        "nodes": {
            "ctrl": {"use": "linear", "out_features": 4, "in": "x"},
            "fast": {"use": "ema", "init_decay": 0.3, "in": "ctrl"},
            "slow": {"use": "ema", "init_decay": 0.9, "in": "ctrl"},
            "mix": mix,
        },
        "out": "mix",
    }


ROUTED = {"use": "round_robin_for_tests", "in": "ctrl"}


def test_a_registry_router_gives_the_mixing_weights() -> None:
    graph = build_wiring(mixture(ROUTED))
    mix = graph.nodes["mix"]
    assert isinstance(mix.router, RoundRobinRouter) and not mix.builtin_router
    assert mix.router.in_features == 4 and mix.router.out_features == 2  # filled in by moe
    x = torch.randn(2, 5, 3)
    y, state = graph(x)
    experts = {name: graph.nodes[name](graph.nodes["ctrl"](x)[0])[0] for name in ("fast", "slow")}
    chosen = [experts["fast"], experts["slow"]]
    expected = torch.stack([chosen[t % 2][:, t] for t in range(5)], dim=1)
    torch.testing.assert_close(y, expected)
    assert state["mix"]["router"]["position"].tolist() == [5, 5]


def test_moe_carries_the_router_state_through_chunks_steps_and_resets() -> None:
    moe = build("moe", in_features=6, input_sizes=(2, 2, 2), router={"use": "round_robin_for_tests"})
    assert moe.state_spec() == {"router": {"position": StateEntry((), dtype="int64")}}
    x = torch.randn(2, 5, 6)
    whole, final = moe(x)
    first, middle = moe(x[:, :2])
    second, final_chunks = moe(x[:, 2:], middle)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    assert torch.equal(final_chunks["router"]["position"], final["router"]["position"])
    state, steps = None, []
    for t in range(5):
        y_t, state = moe.step(x[:, t], state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps, 1), whole)
    resets = torch.zeros(2, 5, dtype=torch.bool)
    resets[0, 3] = True
    reset_run, _ = moe(x, None, resets)
    torch.testing.assert_close(reset_run[0, 3:], moe(x[:1, 3:])[0][0])  # sample 0 starts again at t=3


TestMixtureWithAStatefulRouter = conformance_tests(
    "moe",
    specs=[{"in_features": 7, "input_sizes": (3, 2, 2), "router": {"use": "round_robin_for_tests"}}],
    in_features=None,
)


def test_the_router_reports_its_own_losses_under_its_path() -> None:
    graph = build_wiring(mixture(ROUTED))
    with recording(graph) as record:
        graph(torch.randn(2, 5, 3))
    assert list(record.losses) == ["nodes.mix.router.tokens"]
    assert float(record.losses["nodes.mix.router.tokens"]) == 10.0


def test_the_builtin_router_stays_the_default() -> None:
    graph = build_wiring(mixture())
    mix = graph.nodes["mix"]
    assert mix.builtin_router and isinstance(mix.router, torch.nn.Linear)
    assert mix.balance_weight == 0.01 and mix.spec.balance_weight is None
    assert sorted(name for name, _ in mix.named_parameters()) == ["router.bias", "router.weight"]


def test_a_registry_router_travels_in_the_wiring_file_form() -> None:
    graph = build_wiring(mixture({**ROUTED, "in": ["ctrl", "x"]}))
    assert graph.graph_spec.to_data()["nodes"]["mix"]["router"] == {
        "use": "round_robin_for_tests",
        "in": ["ctrl", "x"],
    }
    assert graph.nodes["mix"].router.in_features == 7  # the router reads ctrl and x side by side
    assert graph.nodes["mix"].spec.router == {"use": "round_robin_for_tests"}


def error(data: dict) -> str:
    with pytest.raises(SpecError) as caught:
        build_wiring(data)
    return str(caught.value)


def test_misuse_is_named_at_its_path() -> None:
    assert error(mixture({"use": "round_robin_for_tests"})) == (
        "nodes.mix.router.in: missing: name the input of moe's `router`"
    )
    assert error(mixture({**ROUTED, "in": "ctlr"})).startswith(
        "nodes.mix.router.in: no node named 'ctlr'; did you mean 'ctrl'?"
    )
    assert error(mixture({"use": "round_robin_fr_tests", "in": "ctrl"})).startswith(
        "nodes.mix.router.use: no component named 'round_robin_fr_tests'; did you mean 'round_robin_for_tests'"
    )
    assert error(mixture({"use": "ema", "in": "ctrl"})).startswith(
        "nodes.mix.router.use: 'ema' is not a router: its spec has no 'num_experts' field"
    )
    assert error(mixture({"use": "not_a_router_for_tests", "in": "ctrl"})).startswith(
        "nodes.mix.router.use: 'not_a_router_for_tests' is not a router: its spec has no 'num_slots' field"
    )
    assert error(mixture({"in": "ctrl"})).startswith("nodes.mix.router: must name a router from the registry")
    assert error(mixture({**ROUTED, "num_experts": 3})) == (
        "nodes.mix.router.num_experts: is the number of experts, 2, filled in by moe; remove it (got 3)"
    )
    assert error(mixture({**ROUTED, "in_features": 2})) == (
        "nodes.mix.router.in_features: is the width of the router input, 4, filled in by moe; remove it (got 2)"
    )
    assert error(mixture({**ROUTED, "spare": 1})).startswith("nodes.mix.router.spare: unknown field")
    assert error(mixture(ROUTED, top_k=1)).startswith(
        "nodes.mix.top_k: belongs to the built-in router; the router 'round_robin_for_tests' takes its own"
    )
    assert error(mixture(ROUTED, balance_weight=0.1)).startswith("nodes.mix.balance_weight: belongs to the built-in")


def test_misuse_from_python_is_named_under_the_registry_name() -> None:
    with pytest.raises(SpecError, match=r"^moe\.router\.use: no component named 'nope'"):
        build("moe", in_features=6, input_sizes=(2, 2, 2), router={"use": "nope"})
    with pytest.raises(SpecError, match=r"^moe\.router: must name a router"):
        build("moe", in_features=6, input_sizes=(2, 2, 2), router={"top_k": 1})


def test_only_a_port_whose_component_has_that_field_takes_a_mapping() -> None:
    data = {
        "name": "gated",
        "in_features": 2,
        "nodes": {
            "mem": {"use": "ema", "in": "x"},
            "gate": {"use": "residual_gate", "path": {"use": "ema", "in": "mem"}, "bypass": "x"},
        },
        "out": "gate",
    }
    assert error(data) == (
        "nodes.gate.path: residual_gate takes its `path` input as references (x, a node, a list, or name@-k), "
        "not a mapping"
    )


# ---- what the routing plots draw ---------------------------------------------------------------


def test_routing_shares_by_hand() -> None:
    from engrammar.nn.routing_plots import default_window, routing_shares

    # two sequences, top-1 over 2 experts; sequence 1 drops its token at t=2 (all weights 0)
    weights = torch.tensor(
        [
            [[0.9, 0.0], [0.0, 0.6], [0.7, 0.0], [0.8, 0.0]],
            [[0.0, 0.5], [0.0, 0.9], [0.0, 0.0], [0.6, 0.0]],
        ]
    )
    # per step over the batch: t0 [1/2, 1/2], t1 [0, 1], t2 [1/2, 0], t3 [1, 0]
    torch.testing.assert_close(
        routing_shares(weights), torch.tensor([[0.5, 0.5], [0.0, 1.0], [0.5, 0.0], [1.0, 0.0]], dtype=torch.float64)
    )
    # trailing window of 2: t0 alone, then the mean of each step with the one before
    torch.testing.assert_close(
        routing_shares(weights, window=2),
        torch.tensor([[0.5, 0.5], [0.25, 0.75], [0.25, 0.5], [0.75, 0.0]], dtype=torch.float64),
    )
    # soft weights count in proportion: [0.2, 0.6] is a quarter and three quarters
    torch.testing.assert_close(
        routing_shares(torch.tensor([[[0.2, 0.6]]])), torch.tensor([[0.25, 0.75]], dtype=torch.float64)
    )
    assert default_window(5) == 1 and default_window(40) == 4
    with pytest.raises(ValueError, match=r"routing weights are \(B, T, E\), got shape \(4, 2\)"):
        routing_shares(weights[0])


def test_the_builtin_router_traces_its_weights() -> None:
    graph = build_wiring(mixture(top_k=1))
    x = torch.randn(2, 5, 3)
    with recording(graph, traces=True) as record:
        graph(x)
    assert list(record.traces) == ["nodes.mix"]
    weights = record.traces["nodes.mix"]["weights"]
    mix = graph.nodes["mix"]
    expected, _, _ = mix.routing(graph.nodes["ctrl"](x)[0])
    torch.testing.assert_close(weights, expected)
    assert ((weights > 0).sum(-1) == 1).all()  # top-1: one expert per token
    with recording(graph, traces=True) as record:  # stepping traces the same weights
        state = None
        for t in range(5):
            _, state = graph.step(x[:, t], state)
    torch.testing.assert_close(record.traces["nodes.mix"]["weights"], weights)


def test_a_spec_with_a_router_hashes_and_compares() -> None:
    one = build("moe", in_features=6, input_sizes=(2, 2, 2), router={"use": "round_robin_for_tests"}).spec
    same = build("moe", in_features=6, input_sizes=(2, 2, 2), router={"use": "round_robin_for_tests"}).spec
    builtin = build("moe", in_features=6, input_sizes=(2, 2, 2)).spec
    assert one == same and hash(one) == hash(same) and one != builtin
    assert len({one, same, builtin}) == 2
