"""Every first-party component keeps its declaration under the run-time check (engrammar.typecheck):
forward (whole, chunked, with resets), step (with resets), init_state, in float32 and float64, and
inside a feedback wiring, where the wiring runs the component's own ``_step`` step by step.

SPECS must name every component that the repository's distributions register (tasks aside): a new
component without an entry here fails the coverage test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import engrammar
import pytest
import tomllib
import torch
from engrammar.registry import components
from engrammar.typechecking import typecheck, typecheck_enabled
from engrammar.wiring.plan import STEP_MAJOR
from engrammar.wiring.ports import ONE

ROOT = Path(__file__).resolve().parent.parent
DNC = {"memory_size": 4, "word_size": 3, "num_reads": 2, "num_writes": 1}
NTM = {"memory_size": 4, "word_size": 3, "num_reads": 1, "num_writes": 1}
DELTANET = {"hidden_size": 3, "num_heads": 2, "head_dim": 3, "value_dim": 2}
ATTENTION = {"hidden_size": 3, "num_heads": 2, "head_dim": 2}

#: name -> representative specs (the option sets of each plugin's conformance tests).
TITANS = {"hidden_size": 3, "num_heads": 2, "head_dim": 2}
SPECS: dict[str, list[dict[str, Any]]] = {
    "concat": [{"in_features": 3}],
    "ema": [{"in_features": 3}, {"in_features": 2, "chunk_size": 2}],
    "linear": [{"in_features": 3, "out_features": 2}],
    "moe": [
        {"in_features": 7, "input_sizes": (3, 2, 2)},
        {"in_features": 9, "input_sizes": (3, 2, 2, 2), "top_k": 1},
        {"in_features": 7, "input_sizes": (3, 2, 2), "router": {"use": "topk_router", "capacity_factor": 1.0}},
    ],
    "residual_gate": [{"in_features": 4, "input_sizes": (2, 2)}],
    "sum": [{"in_features": 6, "input_sizes": (3, 3)}],
    "lstm": [{"in_features": 3, "hidden_size": 3}, {"in_features": 3, "hidden_size": 4, "num_layers": 2}],
    "gru": [{"in_features": 3, "hidden_size": 3, "num_layers": 2}],
    "mlp": [
        {"in_features": 3, "hidden_size": 4},
        {"in_features": 3, "hidden_size": 3, "num_layers": 3, "normalization": "layer", "out_features": 2},
    ],
    "transformer": [
        {"in_features": 3, "hidden_size": 4, "num_heads": 2, "num_layers": 1, "window": 3},
        {"in_features": 3, "hidden_size": 4, "num_heads": 2, "num_layers": 2},  # cache grows
    ],
    "dnc": [
        {"in_features": 3, **DNC},
        {"in_features": 3, **DNC, "num_writes": 2, "gamma": None},
        {"in_features": 3, **DNC, "gate_type": "heaviside"},
        {"in_features": 3, **DNC, "pass_through": True, "trace": True},
    ],
    "ntm": [
        {"in_features": 3, **NTM},
        {"in_features": 3, **NTM, "num_reads": 2, "num_writes": 2, "shift_range": 2},
        {"in_features": 3, **NTM, "pass_through": True, "trace": True},
    ],
    "realnet": [{"in_features": 3, "num_neurons": 5, "out_features": 2, "thinking_steps": 2}],
    "gated_delta_rnn": [
        {"in_features": 3, "hidden_size": 4, "delta_rank": 2},
        {"in_features": 3, "hidden_size": 3, "delta_rank": 1, "use_parallel_scan": False},
        {"in_features": 3, "hidden_size": 4, "delta_rank": 2, "z2_symmetric": True, "gate_context": True},
    ],
    "gated_deltanet": [
        {"in_features": 3, **DELTANET, "chunk_size": 2},
        {"in_features": 3, **DELTANET, "chunk_size": 3, "conv_size": 2},
        {"in_features": 3, **DELTANET, "mode": "recurrent"},
    ],
    "z2_seam": [{"in_features": 3, "hidden_size": 4}, {"in_features": 3, "hidden_size": 2, "orthogonal_flip": True}],
    "kv_attention": [
        {"in_features": 3, **ATTENTION},  # cache grows
        {"in_features": 3, **ATTENTION, "max_length": 2, "persistent_slots": 2},
    ],
    "attention_memory": [{"in_features": 3, **ATTENTION, "rotary": False}],
    "sliding_window": [
        {"in_features": 3, **ATTENTION, "window": 2},
        {"in_features": 3, **ATTENTION, "window": 3, "persistent_slots": 2},
    ],
    "short_term": [{"in_features": 3, **ATTENTION, "window": 1}],
    "persistent_memory": [{"in_features": 3, **ATTENTION, "num_slots": 3}],
    "neural_memory": [
        {"in_features": 3, **TITANS, "memory_expansion": 2, "chunk_size": 2},
        {"in_features": 3, **TITANS, "chunk_size": 1, "memory_depth": 1},
    ],
    "ttt_linear": [{"in_features": 3, **TITANS, "chunk_size": 2}],
    "ttt_mlp": [{"in_features": 3, **TITANS, "chunk_size": 3, "mlp_expansion": 2}],
    "softmax_router": [{"in_features": 3, "num_experts": 3, "temperature": 0.5, "z_loss_weight": 0.1}],
    "topk_router": [
        {"in_features": 3, "num_experts": 3},
        {"in_features": 3, "num_experts": 4, "top_k": 2, "noisy": True, "renormalize": True, "capacity_factor": 1.5},
    ],
    "hash_router": [{"in_features": 3, "num_experts": 2}, {"in_features": 3, "num_experts": 3, "key": "position"}],
    "token_router": [{"in_features": 3, "num_states": 3, "state_dim": 4, "num_heads": 2}],
    "episodic": [
        {
            "in_features": 3,
            "num_slots": 4,
            "key_size": 2,
            "readers": [{"use": "sparse_reader", "top_k": 2}, {"use": "attention_reader"}],
            "writers": [{"use": "usage_writer"}, {"use": "surprise_writer", "learn_threshold": True}],
        },
        {"in_features": 3, "num_slots": 3, "writers": [{"use": "append_writer"}], "pass_through": True},
    ],
    "long_term": [{"in_features": 3, "num_slots": 9}],
    "pulse": [{"in_features": 3, "num_states": 3, "state_dim": 4, "num_heads": 2, "enable_communication": True}],
    "nsm": [{"in_features": 3, "num_states": 4, "state_dim": 2, "num_heads": 1, "gate_type": "lstm"}],
}
CASES = [(name, spec) for name, specs in SPECS.items() for spec in specs]


def _first_party_distributions() -> set[str]:
    names = {"engrammar"}
    for pyproject in ROOT.glob("plugins/*/pyproject.toml"):
        names.add(tomllib.loads(pyproject.read_text())["project"]["name"])
    return names


def test_every_first_party_component_has_specs_here() -> None:
    first_party = _first_party_distributions()
    registered = {
        info.name
        for info in components()
        if info.kind not in ("tasks", "tricks", "readers", "writers")
        and info.distribution in first_party  # not components
    }
    assert registered == set(SPECS), (
        f"missing: {sorted(registered - set(SPECS))}; stale: {sorted(set(SPECS) - registered)}"
    )


def _exercise(component: engrammar.Component, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, component.in_features, generator=generator).to(dtype)
    resets = torch.zeros(3, 6, dtype=torch.bool)
    resets[0, 2] = resets[2, 4] = True
    with torch.no_grad():
        state = component.init_state(3, dtype=dtype)
        y, state = component(x[:, :4], state)
        y, state = component(x[:, 4:], state, resets[:, 4:])
        y, state = component(x, state, resets)
        for t in range(x.shape[1]):
            y_t, state = component.step(x[:, t], state, resets[:, t])
    assert y.shape == (3, 6, component.out_features) and y_t.dtype == dtype


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_the_component_passes_the_run_time_check(name: str, spec: dict[str, Any]) -> None:
    with typecheck():
        assert typecheck_enabled()
        torch.manual_seed(0)
        component = engrammar.build(name, **spec).eval()
        assert type(component).forward._engrammar_checked  # the check is really on for this class
        _exercise(component, torch.float32)
        _exercise(component.double(), torch.float64)


def _inputs(name: str, spec: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """The node's input fields: ``in`` for most; its named ports in order (moe: router, experts)."""
    ports = getattr(type(engrammar.build(name, **spec)), "input_ports", None)
    if not ports:
        return {"in": parts}
    fields: dict[str, Any] = {}
    for port, arity in ports.items():
        fields[port] = parts.pop(0) if arity == ONE else list(parts)
    return fields


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_the_component_passes_inside_a_feedback_wiring(name: str, spec: dict[str, Any]) -> None:
    # Every input reads the node one step late, so the wiring runs the node's _step in its loop;
    # a node of several inputs (sum, moe) gets one linear per input, its widths inferred from them.
    sizes = spec.get("input_sizes", (spec["in_features"],))
    fields = {key: value for key, value in spec.items() if key not in ("in_features", "input_sizes")}
    parts = {
        f"part{i}": {"use": "linear", "out_features": size, "in": ["x", "node@-1"]} for i, size in enumerate(sizes)
    }
    inputs = _inputs(name, spec, list(parts))
    for port, value in inputs.items():  # a port written as a mapping (moe's registry router) keeps its fields
        if isinstance(fields.get(port), dict):
            inputs[port] = {**fields[port], "in": value}
    graph = engrammar.build(
        {
            "name": f"loop_{name}",
            "in_features": 2,
            "nodes": {**parts, "node": {"use": name, **fields, **inputs}},
            "out": "node",
        }
    ).eval()
    assert any(stage.mode == STEP_MAJOR and "node" in stage.nodes for stage in graph.plan.stages)
    with typecheck():
        _exercise(graph, torch.float32)
