"""The wirings in plugins/episodic/examples build and run (the learning runs in docs/episodic.md
use them); they name only this plugin's components and core's, besides an LSTM controller."""

from __future__ import annotations

from pathlib import Path

import engrammar
import pytest
import torch
from engrammar.registry import UnknownNameError
from engrammar.wiring.loader import load_data

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_builds_and_runs(path: Path) -> None:
    try:
        engrammar.registry.resolve("lstm")
    except UnknownNameError:
        pytest.skip("the example's controller, lstm, needs engrammar-controllers, which is not installed")
    graph = engrammar.build(str(path))
    assert load_data(path)["nodes"]["mem"]["use"] == "episodic"
    x = torch.nn.functional.one_hot(torch.randint(0, graph.in_features, (2, 6)), graph.in_features).float()
    y, state = graph(x)
    assert y.shape == (2, 6, graph.out_features) and bool(torch.isfinite(y).all())
    assert state["mem"]["occupied"].sum(-1).tolist() == [6, 6]  # one episode per step
