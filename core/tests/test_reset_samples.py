"""Every reset goes through ``Component.reset_samples``, so a component whose initial state cannot
simply be swapped in (a cache that grows, say) resets its own way everywhere: ``step``,
``forward`` with resets, inside a wiring (layer-major and step-major) and in ``Stateful``."""

from __future__ import annotations

import engrammar
import torch
from engrammar.component import Component, Stateful
from engrammar.state import StateEntry
from engrammar.wiring import build_wiring

MARK = -100.0


class Tally(Component):
    """Counts steps; a reset sets the count to a marker value instead of the initial zero."""

    @property
    def out_features(self) -> int:
        return 1

    def state_spec(self) -> dict:
        return {"count": StateEntry((1,))}

    def _step(self, x_t: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        count = state["count"] + 1
        return count, {"count": count}

    def reset_samples(self, state: dict, mask: torch.Tensor, dtype: torch.dtype | None = None) -> dict:
        return {"count": torch.where(mask[:, None], torch.full_like(state["count"], MARK), state["count"])}


def setup_module() -> None:
    engrammar.unregister("tally_for_tests")
    engrammar.register("memories", "tally_for_tests")(Tally)


def teardown_module() -> None:
    engrammar.unregister("tally_for_tests")


RESETS = torch.tensor([[False, False, True, False], [False, False, False, False]])
EXPECTED = [[1.0, 2.0, MARK + 1, MARK + 2], [1.0, 2.0, 3.0, 4.0]]


def test_forward_and_step_reset_through_reset_samples() -> None:
    tally = Tally(in_features=2)
    y, _ = tally(torch.zeros(2, 4, 2), resets=RESETS)
    assert y[..., 0].tolist() == EXPECTED
    state, outputs = None, []
    for t in range(4):
        y_t, state = tally.step(torch.zeros(2, 2), state, RESETS[:, t])
        outputs.append(y_t[:, 0])
    assert torch.stack(outputs, 1).tolist() == EXPECTED


def test_wirings_reset_their_nodes_through_reset_samples() -> None:
    layer_major = build_wiring(
        {"name": "a", "in_features": 2, "nodes": {"t": {"use": "tally_for_tests", "in": "x"}}, "out": "t"}
    )
    step_major = build_wiring(
        {"name": "b", "in_features": 2, "nodes": {"t": {"use": "tally_for_tests", "in": ["x", "t@-1"]}}, "out": "t"}
    )
    assert step_major.plan.stages[0].mode == "step-major"
    for graph in (layer_major, step_major):
        y, _ = graph(torch.zeros(2, 4, 2), resets=RESETS)
        assert y[..., 0].tolist() == EXPECTED, graph.graph_spec.name
        state, outputs = None, []
        for t in range(4):
            y_t, state = graph.step(torch.zeros(2, 2), state, RESETS[:, t])
            outputs.append(y_t[:, 0])
        assert torch.stack(outputs, 1).tolist() == EXPECTED, graph.graph_spec.name


def test_the_stateful_wrapper_resets_through_reset_samples() -> None:
    wrapper = Stateful(Tally(in_features=1))
    wrapper.init_state(2)
    wrapper(torch.zeros(2, 3, 1))
    wrapper.reset_state(torch.tensor([True, False]))
    assert wrapper.state["count"][:, 0].tolist() == [MARK, 3.0]
