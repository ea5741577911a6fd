"""A wiring used by name: registered at run time or through an entry point, like any plugin."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
from engrammar import registry
from engrammar.registry import build, load, register, unregister
from engrammar.testing import conformance_tests
from engrammar.wiring import Graph, WiringError, WiringFile, build_wiring, wiring_class, wiring_file_class

BLOCK = """\
name: block
in_features: 1
nodes:
  ctrl: {use: linear, out_features: 4, in: [x, mem@-1]}
  mem: {use: ema, in: ctrl}
out: mem
"""


@pytest.fixture
def packaged(tmp_path):
    """A real distribution on sys.path whose entry point names a packaged wiring file."""
    package = tmp_path / "acme_wirings"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "block.yaml").write_text(BLOCK)
    (package / "wirings.py").write_text(
        "from engrammar.wiring import wiring_class\nBlock = wiring_class(__package__, 'block.yaml')\n"
    )
    info = tmp_path / "acme_wirings-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-wirings\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [engrammar.layers]
            acme_block = acme_wirings.wirings:Block
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    registry.refresh()
    yield
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("acme_wirings")]:
        del sys.modules[name]
    registry.refresh()


def test_entry_point_wiring_is_listed_and_used_by_name(packaged) -> None:
    infos = registry.components("layers", "acme_block")
    assert [i.distribution for i in infos] == ["acme-wirings"]
    graph = build_wiring(
        {
            "name": "outer",
            "in_features": 3,
            "nodes": {"a": {"use": "acme_block", "in": "x"}, "b": {"use": "acme_block", "in": "a"}},
            "out": "b",
        }
    )
    assert isinstance(graph.nodes["a"], WiringFile) and isinstance(graph.nodes["a"], Graph)
    assert graph.nodes["a"].in_features == 3 and graph.nodes["b"].in_features == 4
    y, state = graph(torch.randn(2, 5, 3))
    assert y.shape == (2, 5, 4)
    assert set(state) == {"a", "b"} and set(state["a"]) == {"mem", "@history"}


def test_wiring_by_name_takes_overrides_and_builds_alone(packaged) -> None:
    block = build("acme_block", in_features=2, overrides={"nodes.ctrl.out_features": 6})
    assert block.out_features == 6 and block.in_features == 2
    cls = load("acme_block")
    assert cls.spec_cls.__name__ == "WiringFileSpec"


def test_wiring_registered_at_run_time(tmp_path) -> None:
    (tmp_path / "pkg_block").mkdir()
    (tmp_path / "pkg_block" / "__init__.py").write_text("")
    (tmp_path / "pkg_block" / "block.yaml").write_text(BLOCK)
    sys.path.insert(0, str(tmp_path))
    try:
        register("layers", "runtime_block")(wiring_class("pkg_block", "block.yaml"))
        graph = build("runtime_block", in_features=5)
        assert graph.graph_spec.name == "block" and graph.in_features == 5
    finally:
        unregister("runtime_block")
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pkg_block", None)


def test_bad_override_inside_a_used_wiring_names_the_node(packaged) -> None:
    with pytest.raises(WiringError) as caught:
        build_wiring(
            {
                "name": "outer",
                "in_features": 3,
                "nodes": {"a": {"use": "acme_block", "in": "x", "overrides": {"nodes.mme.x": 1}}},
                "out": "a",
            }
        )
    assert str(caught.value) == "nodes.a.nodes.mme.x: override path 'nodes.mme' does not exist (there: ctrl, mem)"


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "controller_feedback.yaml"

# A wiring used as a component class (what a registered name loads) conforms like any component;
# its spec is {in_features, overrides}.
TestWiringFileConformance = conformance_tests(
    wiring_file_class(str(EXAMPLE)), specs=[{}, {"overrides": {"nodes.ctrl.out_features": 3}}]
)
