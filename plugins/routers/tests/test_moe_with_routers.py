"""The routers inside ``moe``: topk_router and softmax_router reproduce the built-in router exactly
(weights, output, load-balancing loss), and every router mixes experts by name in a wiring."""

from __future__ import annotations

import pytest
import torch
from engrammar import build, recording
from engrammar.testing import conformance_tests
from engrammar.wiring import build_wiring


@pytest.mark.parametrize(
    ("builtin", "router"),
    [
        ({"top_k": 1}, {"use": "topk_router", "top_k": 1}),
        ({"top_k": 2}, {"use": "topk_router", "top_k": 2}),
        ({}, {"use": "softmax_router"}),
    ],
)
def test_routers_reproduce_the_builtin_router(builtin: dict, router: dict) -> None:
    sizes = {"in_features": 3 + 3 * 2, "input_sizes": (3, 2, 2, 2)}
    torch.manual_seed(0)
    reference = build("moe", **sizes, balance_weight=0.5, **builtin)
    routed = build("moe", **sizes, router={**router, "balance_weight": 0.5})
    with torch.no_grad():
        routed.router.gate.weight.copy_(reference.router.weight)
        routed.router.gate.bias.copy_(reference.router.bias)
    x = torch.randn(2, 6, 9)
    with recording(reference) as expected, recording(routed) as got:
        y_reference, _ = reference(x)
        y_routed, _ = routed(x)
    torch.testing.assert_close(y_routed, y_reference)
    torch.testing.assert_close(got.losses["router.load_balance"], expected.losses["load_balance"])


def mixture(router: dict, *, feedback: bool = False) -> dict:
    """Three ema experts mixed by ``router``; with ``feedback`` the controller reads the mixture one
    step late, so the mixture runs step by step inside the graph's loop."""
    return {
        "name": "mixture",
        "in_features": 4,
        "nodes": {
            "ctrl": {"use": "linear", "out_features": 6, "in": ["x", "mix@-1"] if feedback else "x"},
            "fast": {"use": "ema", "init_decay": 0.3, "in": "ctrl"},
            "medium": {"use": "ema", "init_decay": 0.7, "in": "ctrl"},
            "slow": {"use": "ema", "init_decay": 0.95, "in": "ctrl"},
            "mix": {"use": "moe", "router": {"in": "ctrl", **router}, "experts": ["fast", "medium", "slow"]},
        },
        "out": "mix",
    }


ROUTERS = {
    "softmax": {"use": "softmax_router", "temperature": 2.0},
    "topk": {"use": "topk_router", "top_k": 2, "noisy": True, "capacity_factor": 1.25},
    "hash_token": {"use": "hash_router"},
    "hash_position": {"use": "hash_router", "key": "position"},
    "token": {"use": "token_router", "state_dim": 4, "num_heads": 2},
}


@pytest.mark.parametrize("name", ROUTERS)
def test_every_router_mixes_experts_by_name(name: str) -> None:
    graph = build_wiring(mixture(ROUTERS[name]))
    router = graph.nodes["mix"].router
    assert router.in_features == 6 and router.out_features == 3
    x = torch.randn(2, 5, 4)
    with recording(graph, traces=True) as record:
        y, _ = graph(x)
    weights = record.traces["nodes.mix.router"]["weights"]
    assert weights.shape == (2, 5, 3)
    hidden = graph.nodes["ctrl"](x)[0]
    experts = torch.stack([graph.nodes[e](hidden)[0] for e in ("fast", "medium", "slow")], dim=-2)
    torch.testing.assert_close(y, (weights.unsqueeze(-1) * experts).sum(-2))


def wiring_factory(name: str, *, feedback: bool = False):
    def make(**fields):
        return build_wiring(mixture(ROUTERS[name], feedback=feedback), **fields)

    make.__name__ = f"mixture_with_{name}{'_in_a_loop' if feedback else ''}"
    return make


def test_a_mixture_read_back_by_its_controller_runs_in_the_loop() -> None:
    assert build_wiring(mixture(ROUTERS["topk"], feedback=True)).plan.stages[0].mode == "step-major"


# A wiring whose router keeps state (capacity counts, positions) still conforms as a whole.
TestMixtureWithTopKCapacity = conformance_tests(wiring_factory("topk"), in_features=None)
TestMixtureWithHashPosition = conformance_tests(wiring_factory("hash_position"), in_features=None)
TestMixtureWithTokenRouter = conformance_tests(wiring_factory("token"), in_features=None)
# step by step inside the graph's loop: the router's state is carried and reset there too
TestMixtureWithTopKCapacityInALoop = conformance_tests(wiring_factory("topk", feedback=True), in_features=None)
TestMixtureWithHashPositionInALoop = conformance_tests(wiring_factory("hash_position", feedback=True), in_features=None)
