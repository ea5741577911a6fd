"""Routing plots from a recorded trace: a router's and a built-in moe's, two PNG files each."""

from __future__ import annotations

import sys

import engrammar
import pytest
import torch
from engrammar.nn.routing_plots import plot_routing

PNG = b"\x89PNG\r\n\x1a\n"


def image_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("name", ["softmax_router", "topk_router", "hash_router", "token_router"])
def test_every_router_plots_what_it_traced(name: str, tmp_path) -> None:
    field = "num_states" if name == "token_router" else "num_experts"
    router = engrammar.build(name, in_features=5, **{field: 4})
    with engrammar.recording(router, traces=True) as record:
        router(torch.randn(3, 30, 5))
    written = router.plot_trace(record.trace(router), tmp_path, prefix="mix")
    assert [p.name for p in written] == ["mix_routing_share.png", "mix_routing_weights.png"]
    for path in written:
        width, height = image_size(path)
        assert width > 100 and height > 100


def test_a_builtin_moe_plots_its_routing(tmp_path) -> None:
    moe = engrammar.build("moe", in_features=7, input_sizes=(3, 2, 2), top_k=1)
    with engrammar.recording(moe, traces=True) as record:
        state = None
        for _ in range(6):  # traced step by step
            _, state = moe.step(torch.randn(2, 7), state)
    assert record.trace(moe)["weights"].shape == (2, 6, 2)
    written = moe.plot_trace(record.trace(moe), tmp_path)
    assert sorted(p.name for p in written) == ["moe_routing_share.png", "moe_routing_weights.png"]


def open_figures() -> list[int]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return [] if pyplot is None else pyplot.get_fignums()


def test_plots_leave_pyplot_alone(tmp_path) -> None:
    # Figures other tests of the same process left open are theirs; the plot must add none.
    before = open_figures()
    plot_routing({"weights": torch.rand(1, 4, 3)}, tmp_path)
    assert open_figures() == before


def test_bad_traces_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"no 'weights' recorded\): run the component inside engrammar.recording"):
        plot_routing({}, tmp_path)
    with pytest.raises(ValueError, match=r"routing weights are \(B, T, E\), got shape \(4, 3\)"):
        plot_routing({"weights": torch.rand(4, 3)}, tmp_path)
    with pytest.raises(IndexError, match=r"sample 2 is out of range: the trace holds 2 batch element\(s\)"):
        plot_routing({"weights": torch.rand(2, 4, 3)}, tmp_path, sample=2)
