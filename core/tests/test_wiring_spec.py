"""One graph spec for every form: YAML, TOML, JSON, a dict and the Python builder round-trip
losslessly, and the built models have the same parameter names (checkpoints move between them)."""

from __future__ import annotations

import pytest
import torch
from engrammar.registry import build
from engrammar.spec import SpecError, dump_mapping, parse_mapping, structure, unstructure
from engrammar.wiring import GraphSpec, NodeRef, Wiring, build_wiring, load_graph_spec, parse_ref
from engrammar.wiring.refs import Ref

DATA = {
    "name": "forms",
    "in_features": 3,
    "nodes": {
        "ctrl": {"use": "linear", "in": ["x", "mem@-1"], "out_features": 5},
        "mem": {"use": "ema", "in": "ctrl", "init_decay": 0.8},
        "gate": {"use": "residual_gate", "path": "mem", "bypass": "ctrl", "init_bias": 1.0},
        "mix": {"use": "moe", "router": "ctrl", "experts": ["gate", "mem"], "top_k": 1},
        "head": {"use": "linear", "in": ["ctrl", "mix"], "out_features": 2, "bias": False},
    },
    "out": "head",
}


def builder() -> Wiring:
    w = Wiring("forms", in_features=3)
    ctrl = w.node("ctrl", "linear", inputs=[w.x, NodeRef("mem").delayed(1)], out_features=5)
    mem = w.node("mem", "ema", inputs=ctrl, init_decay=0.8)
    gate = w.node("gate", "residual_gate", path=mem, bypass=ctrl, init_bias=1.0)
    mix = w.node("mix", "moe", router=ctrl, experts=[gate, mem], top_k=1)
    w.node("head", "linear", inputs=[ctrl, mix], out_features=2, bias=False)
    w.output("head")
    return w


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_file_forms_round_trip_losslessly(suffix: str, tmp_path) -> None:
    spec = GraphSpec.from_data(DATA)
    path = tmp_path / f"forms{suffix}"
    path.write_text(dump_mapping(spec.to_data(), suffix))
    again = load_graph_spec(path)
    assert again == spec
    assert again.to_data() == DATA


def test_null_fields_mean_the_default_so_toml_round_trips_them() -> None:
    data = {
        "in_features": 3,
        "nodes": {"mix": {"use": "moe", "router": "x", "experts": ["x"], "top_k": None}},
        "out": "mix",
    }
    spec = GraphSpec.from_data(data)
    assert spec.nodes["mix"].fields == {"router": "x", "experts": ("x",)}
    assert GraphSpec.from_data(parse_mapping(dump_mapping(spec.to_data(), ".toml"), ".toml")) == spec


def test_builder_gives_the_same_spec_as_the_dict() -> None:
    assert builder().spec() == GraphSpec.from_data(DATA)
    assert builder().to_data() == DATA


def test_generic_structure_and_unstructure_use_the_file_form() -> None:
    spec = GraphSpec.from_data(DATA)
    assert unstructure(spec) == DATA
    assert structure(DATA, GraphSpec) == spec
    text = dump_mapping(unstructure(spec), ".yaml")
    assert structure(parse_mapping(text, ".yaml"), GraphSpec) == spec


def build_seeded(source) -> torch.nn.Module:
    torch.manual_seed(1)
    return source() if callable(source) else build_wiring(source)


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_every_form_builds_the_same_model(suffix: str, tmp_path) -> None:
    path = tmp_path / f"forms{suffix}"
    path.write_text(dump_mapping(DATA, suffix))
    from_file = build_seeded(str(path))
    from_dict = build_seeded(DATA)
    from_builder = build_seeded(lambda: builder().build())
    from_registry_build = build_seeded(lambda: build(str(path)))
    names = list(from_file.state_dict())
    assert names and all(name.startswith("nodes.") for name in names)
    x = torch.randn(2, 6, 3)
    reference = from_file(x)[0]
    for other in (from_dict, from_builder, from_registry_build):
        assert list(other.state_dict()) == names
        torch.testing.assert_close(other(x)[0], reference)


def test_checkpoint_from_one_form_loads_into_another(tmp_path) -> None:
    path = tmp_path / "forms.toml"
    path.write_text(dump_mapping(DATA, ".toml"))
    torch.manual_seed(3)
    trained = build_wiring(path)
    torch.manual_seed(4)
    fresh = builder().build()
    x = torch.randn(2, 5, 3)
    assert not torch.allclose(fresh(x)[0], trained(x)[0])
    fresh.load_state_dict(trained.state_dict())
    torch.testing.assert_close(fresh(x)[0], trained(x)[0])


def test_node_order_is_kept_by_every_form(tmp_path) -> None:
    for suffix in (".yaml", ".toml", ".json"):
        path = tmp_path / f"order{suffix}"
        path.write_text(dump_mapping(DATA, suffix))
        assert list(load_graph_spec(path).nodes) == ["ctrl", "mem", "gate", "mix", "head"]


def test_parse_ref() -> None:
    assert parse_ref("mem", "p") == Ref("mem", 0)
    assert parse_ref(" mem @ -12 ", "p") == Ref("mem", 12)
    assert str(Ref("mem", 2)) == "mem@-2"
    with pytest.raises(SpecError, match=r"^p: invalid reference"):
        parse_ref("mem@+1", "p")


def test_node_ref_delayed() -> None:
    assert NodeRef("mem").delayed(3) == "mem@-3"
    assert NodeRef("mem@-1").delayed(2) == "mem@-2"
    with pytest.raises(ValueError):
        NodeRef("mem").delayed(0)


def test_builder_refuses_a_node_twice() -> None:
    w = Wiring("dup", in_features=2)
    w.node("a", "ema", inputs="x")
    with pytest.raises(ValueError, match="already defined"):
        w.node("a", "ema", inputs="x")


def test_graph_spec_of_a_built_graph_rebuilds_it() -> None:
    torch.manual_seed(0)
    graph = build_wiring(DATA)
    twin = type(graph)(graph.spec)
    assert list(twin.state_dict()) == list(graph.state_dict())
