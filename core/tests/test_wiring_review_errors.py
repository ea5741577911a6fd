"""Errors inside a wiring used by another one name the node of the outer wiring and the path inside
the used file, as one line; a file that uses itself is an error, not a recursion."""

from __future__ import annotations

import re

import pytest
from engrammar.cli import main
from engrammar.spec import SpecError
from engrammar.wiring import WiringError, build_wiring


def outer(tmp_path, use: str, **fields) -> dict:
    return {
        "name": "outer",
        "in_features": 3,
        "nodes": {"block": {"use": str(tmp_path / use), "in": "x", **fields}},
        "out": "block",
    }


def test_a_missing_wiring_file_is_reported_at_the_node_use(tmp_path) -> None:
    with pytest.raises(SpecError) as caught:
        build_wiring(outer(tmp_path, "nowhere.yaml"))
    assert str(caught.value) == f"nodes.block.use: {tmp_path / 'nowhere.yaml'}: no such file"


def test_an_unparsable_wiring_file_is_reported_at_the_node_use(tmp_path) -> None:
    (tmp_path / "broken.yaml").write_text("nodes: [\n")
    with pytest.raises(
        SpecError, match=rf"^nodes\.block\.use: {re.escape(str(tmp_path / 'broken.yaml'))}: cannot parse"
    ):
        build_wiring(outer(tmp_path, "broken.yaml"))


def test_an_error_inside_a_used_file_keeps_its_whole_path(tmp_path) -> None:
    (tmp_path / "inner.yaml").write_text(
        "name: inner\nnodes:\n  ctrl: {use: lienar, out_features: 4, in: x}\nout: ctrl\n"
    )
    with pytest.raises(SpecError) as caught:
        build_wiring(outer(tmp_path, "inner.yaml"))
    # the closest name first (other installed plugins may add more suggestions after it)
    assert str(caught.value).startswith(
        "nodes.block.nodes.ctrl.use: no component named 'lienar'; did you mean 'linear'"
    )
    (tmp_path / "inner.yaml").write_text("name: inner\nnodes:\n  ctrl: {use: ema, in: x, init_decay: 2.0}\nout: ctrl\n")
    with pytest.raises(SpecError, match=r"^nodes\.block\.nodes\.ctrl\.init_decay: must be in"):
        build_wiring(outer(tmp_path, "inner.yaml"))
    (tmp_path / "inner.yaml").write_text(
        "name: inner\nnodes:\n  ctrl: {use: ema, in: [x, mem]}\n  mem: {use: ema, in: ctrl}\nout: mem\n"
    )
    with pytest.raises(
        WiringError, match=r"^nodes\.block\.nodes\.ctrl\.in: cycle without a delay: ctrl -> mem -> ctrl;"
    ):
        build_wiring(outer(tmp_path, "inner.yaml"))


def test_a_bad_override_of_a_used_file_names_the_node_and_the_override(tmp_path) -> None:
    (tmp_path / "inner.yaml").write_text("name: inner\nnodes:\n  mem: {use: ema, in: x}\nout: mem\n")
    with pytest.raises(WiringError) as caught:
        build_wiring(outer(tmp_path, "inner.yaml", overrides={"nodes.mme.init_decay": 0.5}))
    assert (
        str(caught.value) == "nodes.block.nodes.mme.init_decay: override path 'nodes.mme' does not exist (there: mem)"
    )


def test_a_wiring_that_uses_itself_is_an_error(tmp_path) -> None:
    (tmp_path / "loop.yaml").write_text(
        f"name: loop\nin_features: 2\nnodes:\n  a: {{use: {tmp_path / 'loop.yaml'}, in: x}}\nout: a\n"
    )
    with pytest.raises(WiringError) as caught:
        build_wiring(tmp_path / "loop.yaml")
    assert str(caught.value) == "nodes.a.nodes.a.use: a wiring cannot use itself: loop.yaml -> loop.yaml"
    (tmp_path / "one.yaml").write_text("name: one\nin_features: 2\nnodes:\n  a: {use: two.yaml, in: x}\nout: a\n")
    (tmp_path / "two.yaml").write_text("name: two\nnodes:\n  b: {use: one.yaml, in: x}\nout: b\n")
    with pytest.raises(
        WiringError, match=r"a wiring cannot use itself: (one|two)\.yaml -> (one|two)\.yaml -> (one|two)\.yaml$"
    ):
        build_wiring(tmp_path / "one.yaml")
    # the failed builds leave nothing behind: a correct file still builds
    (tmp_path / "two.yaml").write_text("name: two\nnodes:\n  b: {use: ema, in: x}\nout: b\n")
    assert build_wiring(tmp_path / "one.yaml").out_features == 2


def test_the_command_prints_one_line_for_errors_inside_used_files(tmp_path, capsys) -> None:
    (tmp_path / "loop.yaml").write_text("name: loop\nin_features: 2\nnodes:\n  a: {use: loop.yaml, in: x}\nout: a\n")
    (tmp_path / "missing.yaml").write_text("name: m\nin_features: 2\nnodes:\n  a: {use: gone.yaml, in: x}\nout: a\n")
    for name, expected in (
        ("loop.yaml", "error: nodes.a.nodes.a.use: a wiring cannot use itself: loop.yaml -> loop.yaml\n"),
        ("missing.yaml", f"error: nodes.a.use: {tmp_path / 'gone.yaml'}: no such file\n"),
    ):
        assert main(["build", str(tmp_path / name)]) == 2
        captured = capsys.readouterr()
        assert captured.err == expected and captured.out == ""


def test_an_unused_node_inside_a_used_file_is_named_through_the_node_once(tmp_path, capsys) -> None:
    import warnings

    from engrammar.wiring import UnusedNodeWarning

    (tmp_path / "inner.yaml").write_text(
        "name: inner\nnodes:\n  a: {use: linear, out_features: 3, in: x}\n  spare: {use: ema, in: x}\nout: a\n"
    )
    # c sits in a loop whose widths are found by probing c: its trial builds must not warn
    (tmp_path / "outer.yaml").write_text(
        "name: outer\nin_features: 3\nnodes:\n  b: {use: inner.yaml, in: x}\n"
        "  c: {use: inner.yaml, in: [b, loop@-1]}\n  loop: {use: ema, in: c}\nout: loop\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_wiring(tmp_path / "outer.yaml")
    messages = [str(w.message) for w in caught if issubclass(w.category, UnusedNodeWarning)]
    unused = "unused (neither the output nor any node reads it)"
    assert messages == [f"nodes.b.nodes.spare: {unused}", f"nodes.c.nodes.spare: {unused}"]
    assert main(["build", str(tmp_path / "outer.yaml")]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert printed == [f"warning: {message}" for message in messages]
