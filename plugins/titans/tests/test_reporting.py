"""What the memories report through the auxiliary channel: the inner loss, the gates and the weight
norm as metrics,
per-token traces that the step path reproduces, nothing when no recording is open, and the trace
plot."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.recorder import recording

NAMES = {
    "neural_memory": ("inner_loss", "lr", "momentum", "decay"),
    "ttt_linear": ("inner_loss", "lr"),
    "ttt_mlp": ("inner_loss", "lr"),
}
SMALL = {"in_features": 5, "hidden_size": 6, "num_heads": 2, "head_dim": 3, "chunk_size": 4}


def build(name, **fields):
    torch.manual_seed(0)
    return engrammar.build(name, **{**SMALL, **fields}).double()


@pytest.mark.parametrize("name", sorted(NAMES))
def test_metrics_and_traces_of_forward_and_step_agree(name):
    memory = build(name)
    x = torch.randn(2, 11, 5, dtype=torch.float64)
    with recording(memory, traces=True) as forward:
        memory(x)
    with recording(memory, traces=True) as stepped:
        state = None
        for t in range(11):
            _, state = memory.step(x[:, t], state)
    expected = {*NAMES[name], "weight_norm"}
    assert set(forward.metrics) == set(stepped.metrics) == expected
    traced = forward.trace(memory)
    assert set(traced) == expected
    for key, value in traced.items():
        assert value.shape == (2, 11, 2), key
        assert torch.allclose(value, stepped.trace(memory)[key], atol=1e-10), key
    for key in expected:
        assert torch.allclose(torch.as_tensor(forward.metrics[key]), traced[key].mean(), atol=1e-12), key
    # the first chunk's gradients are taken at the initial weights: their norm, for 4 tokens
    assert torch.allclose(traced["weight_norm"][:, :4], traced["weight_norm"][:, :1].expand(2, 4, 2))
    assert not torch.allclose(traced["weight_norm"][:, 4], traced["weight_norm"][:, 3])


def test_the_inner_loss_metric_pools_over_calls_as_a_token_mean():
    memory = build("neural_memory")
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    with recording(memory, traces=True) as whole:
        memory(x)
    with recording(memory) as parts:
        _, state = memory(x[:, :3])
        memory(x[:, 3:], state)
    assert torch.allclose(torch.as_tensor(parts.metrics["inner_loss"]), whole.trace(memory)["inner_loss"].mean())


def test_nothing_is_reported_without_a_recording_and_no_trace_without_traces():
    memory = build("neural_memory")
    y_plain, _ = memory(torch.ones(1, 5, 5, dtype=torch.float64))
    with recording(memory) as record:
        y_recorded, _ = memory(torch.ones(1, 5, 5, dtype=torch.float64))
    assert torch.equal(y_plain, y_recorded)
    assert record.traces == {} and "inner_loss" in record.metrics


@pytest.mark.parametrize("name", ["neural_memory", "ttt_mlp"])
def test_plot_trace_writes_one_figure(tmp_path, name):
    memory = build(name)
    with recording(memory, traces=True) as record:
        memory(torch.randn(3, 9, 5, dtype=torch.float64))
    (path,) = memory.plot_trace(record.trace(memory), tmp_path, prefix="mem")
    assert path == tmp_path / "mem_memory.png" and path.stat().st_size > 5000
