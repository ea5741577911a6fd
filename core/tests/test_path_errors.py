"""One error type carries the path of every bad input: specs, wirings, wiring files, overrides.
``WiringError`` stays importable as its former name, so code catching either catches them all."""

from __future__ import annotations

import pickle

import engrammar
import pytest
from engrammar.spec import SpecError
from engrammar.wiring import WiringError, build_wiring, load_graph_spec
from engrammar.wiring.errors import WiringError as WiringErrorFromItsModule


def test_the_former_name_is_the_same_type() -> None:
    assert WiringError is SpecError is engrammar.SpecError is WiringErrorFromItsModule


def test_code_catching_either_name_catches_field_errors_and_graph_errors() -> None:
    bad_field = {"in_features": 2, "nodes": {"m": {"use": "ema", "init_decay": 2.0, "in": "x"}}, "out": "m"}
    cycle = {"in_features": 2, "nodes": {"m": {"use": "linear", "out_features": 2, "in": ["x", "m"]}}, "out": "m"}
    for data, path in ((bad_field, "nodes.m.init_decay"), (cycle, "nodes.m.in")):
        for caught_as in (SpecError, WiringError):
            with pytest.raises(caught_as) as caught:
                build_wiring(data)
            assert caught.value.path == path
            assert str(caught.value).startswith(f"{path}: ")


def test_override_and_file_errors_are_the_same_type(tmp_path) -> None:
    with pytest.raises(SpecError) as caught:
        load_graph_spec({"in_features": 2, "nodes": {"m": {"use": "ema", "in": "x"}}, "out": "m"}, ["nodes.n.a=1"])
    assert caught.value.path == "nodes.n.a"
    with pytest.raises(SpecError, match="no such file"):
        load_graph_spec(tmp_path / "missing.yaml")


def test_fields_of_the_error() -> None:
    err = SpecError("nodes.mem.memory_size", "must be >= 1, got 0")
    assert str(err) == "nodes.mem.memory_size: must be >= 1, got 0"
    assert err.rule == err.problem == "must be >= 1, got 0"  # `problem` was WiringError's name for it
    assert err.user_error
    assert str(SpecError("", "no path")) == "no path"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is SpecError and (copy.path, copy.rule) == (err.path, err.rule)


def test_paths_move_under_a_prefix_and_to_a_new_root() -> None:
    err = SpecError("EMA.init_decay", "must be in (0.0, 1.0), got 2.0")
    assert err.under("nodes.mem").path == "nodes.mem.EMA.init_decay"
    assert err.rerooted("EMA", "ema").path == "ema.init_decay"
    assert err.rerooted("EMA", "nodes.mem").path == "nodes.mem.init_decay"
    assert SpecError("EMA", "bad").rerooted("EMA", "ema").path == "ema"
    assert SpecError("EMAX.a", "bad").rerooted("EMA", "ema").path == "ema.EMAX.a"  # not its root: put under
    assert SpecError("memory_size", "bad").rerooted("DNC", "nodes.mem").path == "nodes.mem.memory_size"
