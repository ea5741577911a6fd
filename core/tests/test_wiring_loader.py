"""Composition of wiring files: extends, dotted overrides, sweeps."""

from __future__ import annotations

import pytest
from engrammar.spec import SpecError
from engrammar.wiring import (
    WiringError,
    apply_overrides,
    build_wiring,
    expand_sweep,
    load_graph_spec,
    merge,
    sweep_specs,
    wiring_class,
)
from engrammar.wiring.sweep import split_choices

BASE = """\
name: base
in_features: 4
nodes:
  ctrl: {use: linear, out_features: 8, in: [x, mem@-1]}
  mem: {use: ema, init_decay: 0.9, in: ctrl}
  probe: {use: linear, out_features: 1, in: mem}
  head: {use: linear, out_features: 2, in: [ctrl, mem, probe]}
out: head
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "small.yaml").write_text(
        "extends: ../base.yaml\nname: small\nnodes:\n"
        "  mem: {init_decay: 0.5}\n"
        "  probe: null\n"
        "  head: {in: [ctrl, mem]}\n"
    )
    (tmp_path / "sub" / "smaller.toml").write_text(
        'extends = "small.yaml"\nname = "smaller"\n[nodes.ctrl]\nout_features = 4\n'
    )
    return tmp_path


def test_extends_merges_nodes_replaces_lists_and_deletes_with_null(files) -> None:
    spec = load_graph_spec(files / "sub" / "small.yaml")
    assert spec.name == "small"
    assert list(spec.nodes) == ["ctrl", "mem", "head"]
    assert spec.nodes["mem"].fields == {"init_decay": 0.5}
    assert spec.nodes["mem"].inputs == "ctrl"  # kept from the base
    assert spec.nodes["head"].inputs == ("ctrl", "mem")  # a list replaces, it does not merge
    assert spec.nodes["ctrl"].fields == {"out_features": 8}


def test_extends_chains_across_formats_and_folders(files) -> None:
    spec = load_graph_spec(files / "sub" / "smaller.toml")
    assert spec.name == "smaller"
    assert spec.nodes["ctrl"].fields == {"out_features": 4}
    assert spec.nodes["mem"].fields == {"init_decay": 0.5}
    assert build_wiring(files / "sub" / "smaller.toml").nodes["mem"].in_features == 4


def test_extends_cycle_is_an_error(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(WiringError, match="extends cycle: a.yaml -> b.yaml -> a.yaml"):
        load_graph_spec(tmp_path / "a.yaml")


def test_extends_missing_file_is_an_error(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(WiringError, match="no such file 'nowhere.yaml'"):
        load_graph_spec(tmp_path / "a.yaml")


def test_dotted_overrides_as_mapping_and_as_strings(files) -> None:
    spec = load_graph_spec(files / "base.yaml", {"nodes.mem.init_decay": 0.3, "in_features": 6})
    assert spec.nodes["mem"].fields["init_decay"] == 0.3
    assert spec.in_features == 6
    spec = load_graph_spec(files / "base.yaml", ["nodes.ctrl.out_features=16", "nodes.head.in=[ctrl, mem]"])
    assert spec.nodes["ctrl"].fields["out_features"] == 16
    assert spec.nodes["head"].inputs == ("ctrl", "mem")


def test_build_takes_dotted_overrides_as_keywords(files) -> None:
    graph = build_wiring(files / "base.yaml", in_features=5, **{"nodes.ctrl.out_features": 3})
    assert graph.in_features == 5
    assert graph.nodes["ctrl"].out_features == 3


def test_override_of_a_missing_node_is_an_error(files) -> None:
    with pytest.raises(WiringError, match=r"override path 'nodes.mme' does not exist"):
        load_graph_spec(files / "base.yaml", {"nodes.mme.init_decay": 0.3})


def test_override_can_add_a_node_and_remove_a_field() -> None:
    data = {"nodes": {"a": {"use": "ema", "init_decay": 0.5}}}
    out = apply_overrides(data, {"nodes.b": {"use": "ema"}, "nodes.a.init_decay": None})
    assert out == {"nodes": {"a": {"use": "ema"}, "b": {"use": "ema"}}}
    assert data == {"nodes": {"a": {"use": "ema", "init_decay": 0.5}}}  # not modified


def test_merge_is_recursive_and_pure() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    over = {"a": {"c": [3]}, "d": None, "e": 2}
    assert merge(base, over) == {"a": {"b": 1, "c": [3]}, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_mapping_with_extends(files) -> None:
    spec = load_graph_spec({"extends": str(files / "base.yaml"), "name": "inline"})
    assert spec.name == "inline" and list(spec.nodes) == ["ctrl", "mem", "probe", "head"]


def test_mapping_extends_relative_to_the_working_folder_with_the_same_rules_as_a_file(files, monkeypatch) -> None:
    monkeypatch.chdir(files)
    spec = load_graph_spec({"extends": ["base.yaml"], "nodes": {"probe": None}, "name": "inline"})
    assert list(spec.nodes) == ["ctrl", "mem", "head"]
    with pytest.raises(SpecError, match=r"^extends: no such file 'nowhere.yaml'"):
        load_graph_spec({"extends": "nowhere.yaml"})
    with pytest.raises(SpecError, match=r"^extends: expected a file path or a list of them, got 3$"):
        load_graph_spec({"extends": 3})


def test_a_file_extending_a_file_that_extends_it_through_a_mapping_is_a_cycle(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(SpecError, match=r"^b.yaml: extends: extends cycle: a.yaml -> b.yaml -> a.yaml$"):
        load_graph_spec({"extends": str(tmp_path / "a.yaml")})


def test_a_wiring_shipped_in_a_package_may_extend_another(tmp_path, monkeypatch) -> None:
    """Files, packaged files and mappings share one ``extends`` resolver."""
    package = tmp_path / "acme_extends"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.yaml").write_text(BASE)
    (package / "small.yaml").write_text("extends: base.yaml\nname: small\nnodes: {mem: {init_decay: 0.25}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    small = wiring_class("acme_extends", "small.yaml")
    built = small(in_features=3)
    assert built.graph_spec.name == "small"
    assert built.graph_spec.nodes["mem"].fields == {"init_decay": 0.25}
    assert built.in_features == 3


def test_expand_sweep_is_the_cartesian_product() -> None:
    points = expand_sweep(["nodes.mem.init_decay=0.5,0.9", "nodes.ctrl.out_features=4,8,16"])
    assert len(points) == 6
    assert points[0] == {"nodes.mem.init_decay": 0.5, "nodes.ctrl.out_features": 4}
    assert points[-1] == {"nodes.mem.init_decay": 0.9, "nodes.ctrl.out_features": 16}
    assert expand_sweep({"a": [1, 2]}) == [{"a": 1}, {"a": 2}]


def test_sweep_values_may_be_lists_and_strings() -> None:
    assert split_choices("[a, b],c,'d,e'") == ["[a, b]", "c", "'d,e'"]
    points = expand_sweep(["nodes.head.in=[ctrl, mem],ctrl", "name=one,'two,three'"])
    assert [p["nodes.head.in"] for p in points[::2]] == [["ctrl", "mem"], "ctrl"]
    assert points[1]["name"] == "two,three"


def test_sweep_errors() -> None:
    with pytest.raises(WiringError, match="expected KEY=V1,V2"):
        expand_sweep(["nodes.mem.init_decay"])
    with pytest.raises(WiringError, match="empty value"):
        expand_sweep(["a=1,,2"])
    with pytest.raises(WiringError, match="appears twice"):
        expand_sweep(["a=1", "a=2"])


def test_sweep_specs_gives_one_valid_spec_per_point(files) -> None:
    runs = sweep_specs(files / "base.yaml", ["nodes.mem.init_decay=0.5,0.7,0.9"])
    assert [spec.nodes["mem"].fields["init_decay"] for _, spec in runs] == [0.5, 0.7, 0.9]
    assert [point for point, _ in runs][1] == {"nodes.mem.init_decay": 0.7}
