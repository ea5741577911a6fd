"""The debugger's files and the visualizer's PNGs, under both names."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from engrammar_pulse import PulseLayer, SimplePulse, StatePropagator
from nsm.utils.debugger import NSMDebugger
from nsm.visualization import NSMVisualizer
from pulse.utils.debugger import PulseDebugger
from pulse.visualization import PULSEVisualizer


def read(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_debugger_records_norms_entropy_and_gates_per_layer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SimplePulse(input_dim=6, state_dim=8, num_states=4, output_dim=2, num_heads=2)
    x = torch.randn(3, 6)
    with PulseDebugger(log_dir=tmp_path / "logs").watch(model) as debugger:
        model(x)
        model(x)
    model(x)  # disabled: nothing more is written
    propagator = read(tmp_path / "logs" / "propagator.jsonl")
    router = read(tmp_path / "logs" / "router.jsonl")
    assert [entry["call"] for entry in propagator] == [0, 1] and len(router) == 2
    assert debugger.records["propagator"] == propagator
    # the values are the tensors' own
    slots = model.state_manager.scaled_states().expand(3, -1, -1)
    tokens = torch.nn.functional.gelu(model.input_projection(x)).reshape(3, 4, 8)
    routed, weights = model.router(tokens, slots)
    _, gates = model.propagator.gated_update(slots, routed)
    entropy = -(weights * weights.log()).sum(-1).mean()
    assert router[0]["routing_entropy"] == pytest.approx(entropy.item(), rel=1e-5)
    assert router[0]["routing_entropy_max"] == pytest.approx(math.log(4))
    assert propagator[0]["gate_update"] == pytest.approx(gates["update"].mean().item(), rel=1e-5)
    states = model.propagator(slots, routed)
    assert propagator[0]["state_norm"] == pytest.approx(states.norm(dim=-1).mean().item(), rel=1e-5)


def test_unwatched_layers_are_named_by_class_and_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layers = [PulseLayer(8, 5, num_heads=2, gate_type="lstm"), PulseLayer(8, 8, num_heads=2)]
    debugger = NSMDebugger(log_dir=tmp_path, verbose=True).enable_debug()
    try:
        states = layers[0](torch.randn(2, 3, 8), torch.randn(2, 4, 5))
        layers[1](states, states)
    finally:
        debugger.disable_debug()
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [
        "PulseLayer_0.jsonl",
        "PulseLayer_1.jsonl",
        "StatePropagator_0.jsonl",
        "StatePropagator_1.jsonl",
    ]
    assert set(read(tmp_path / "StatePropagator_0.jsonl")[0]) >= {"gate_forget", "gate_input", "state_norm"}
    assert "NSMDebugger: recording state norms" in capsys.readouterr().out


def test_nothing_is_recorded_without_a_debugger(tmp_path: Path) -> None:
    StatePropagator(4)(torch.randn(2, 4), torch.randn(2, 4))
    debugger = PulseDebugger(log_dir=tmp_path)
    assert debugger.records == {} and not debugger.enabled


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("visualizer_class", [PULSEVisualizer, NSMVisualizer])
def test_the_plots_are_pngs_of_readable_size(visualizer_class: type, tmp_path: Path) -> None:
    visualizer = visualizer_class(out_dir=tmp_path)
    router_weights = torch.softmax(torch.randn(2, 20, 8), -1)
    attention = visualizer.plot_attention_map(router_weights)
    trajectory = visualizer.plot_state_evolution([torch.randn(2, 8, 16) * (t + 1) for t in range(10)])
    stacked = visualizer.plot_state_evolution(torch.randn(10, 8, 16), tmp_path / "sub" / "stacked.png")
    assert attention == tmp_path / "attention_map.png" and trajectory == tmp_path / "state_evolution.png"
    assert visualizer.written == [attention, trajectory, stacked]
    for path in visualizer.written:
        width, height = png_size(path)
        assert width >= 400 and height >= 300


def test_plot_errors_are_named(tmp_path: Path) -> None:
    visualizer = PULSEVisualizer(out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"attention_weights: expected 2 dims, or 3 with a batch, got \(5,\)"):
        visualizer.plot_attention_map(torch.rand(5))
    with pytest.raises(IndexError, match="attention_weights: sample 4 is out of range for a batch of 2"):
        visualizer.plot_attention_map(torch.rand(2, 3, 4), sample=4)
    with pytest.raises(ValueError, match="state_trajectories: empty"):
        visualizer.plot_state_evolution([])
