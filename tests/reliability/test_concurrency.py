"""Concurrency: building and running components from several threads at once gives what one thread
gives — the registry's caches (refreshed first, so the threads race to load plugins), the wiring
builder, and the recording channel for auxiliary losses, metrics and traces."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import engrammar
import pytest
import torch
from engrammar import registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIRINGS = ["mixture_of_memories.yaml", "lstm_dnc.yaml", "several_memories.yaml"]
THREADS = 6
ROUNDS = 3


def run(wiring: str, weights: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, Any]:
    """Build ``wiring``, load ``weights``, run forward and step with a recording open."""
    model = engrammar.build(EXAMPLES / wiring)
    model.load_state_dict(weights)
    with engrammar.recording(model, traces=True) as record:
        y, _ = model(x)
        losses = {k: v.detach().clone() for k, v in record.losses.items()}
        metrics = {k: torch.as_tensor(v).detach().clone() for k, v in record.metrics.items()}
    state = model.init_state(x.shape[0])
    steps = []
    for t in range(x.shape[1]):
        y_t, state = model.step(x[:, t], state)
        steps.append(y_t)
    return {"y": y.detach(), "steps": torch.stack(steps, 1).detach(), "losses": losses, "metrics": metrics}


def in_threads(work: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    assert all(result is not None for result in results)
    return results


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert torch.equal(left["y"], right["y"])
    assert torch.equal(left["steps"], right["steps"])
    assert left["losses"].keys() == right["losses"].keys()
    assert left["metrics"].keys() == right["metrics"].keys()
    for key in left["losses"]:
        assert torch.equal(left["losses"][key], right["losses"][key]), key
    for key in left["metrics"]:
        assert torch.equal(left["metrics"][key], right["metrics"][key]), key


@pytest.mark.parametrize("rounds", range(ROUNDS))
def test_threads_building_and_running_wirings_agree_with_one_thread(rounds: int) -> None:
    torch.manual_seed(rounds)
    references = {}
    for wiring in WIRINGS:
        model = engrammar.build(EXAMPLES / wiring)
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        x = torch.randn(2, 5, model.in_features)
        references[wiring] = (weights, x, run(wiring, weights, x))
    registry.refresh()  # the threads find every plugin anew, at the same time

    def work(index: int) -> dict[str, Any]:
        wiring = WIRINGS[index % len(WIRINGS)]
        weights, x, _ = references[wiring]
        return {"wiring": wiring, **run(wiring, weights, x)}

    for result in in_threads(work):
        assert_same(result, references[result["wiring"]][2])
    assert any(references[w][2]["losses"] for w in WIRINGS), "no wiring reported a loss: the channel went untested"
