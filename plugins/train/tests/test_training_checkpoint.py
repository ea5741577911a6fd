"""Checkpoints: a safetensors file whose metadata is JSON (no pickle), lossless for nested tensors
and plain data, written atomically."""

from __future__ import annotations

import json

import pytest
import torch
from engrammar_train.checkpoint import decode, encode, load_checkpoint, save_checkpoint, write_atomic
from safetensors import safe_open


def _nested() -> dict:
    return {
        "step": 7,
        "model": {"layer.weight": torch.randn(3, 2), "layer.bias": torch.arange(3)},
        "optimizer": {
            "state": {0: {"step": torch.tensor(4.0), "exp_avg": torch.ones(2)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0], "foreach": None}],
        },
        "rng": {"torch": torch.get_rng_state()},
        "note": "text",
        "extension": {"__odd": 1.5},
    }


def test_round_trip_keeps_values_types_and_structure(tmp_path) -> None:
    original = _nested()
    path = save_checkpoint(tmp_path / "c.safetensors", original)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 7 and loaded["note"] == "text" and loaded["extension"]["__odd"] == 1.5
    assert list(loaded["optimizer"]["state"]) == [0]  # integer keys stay integers
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # tuples stay tuples
    assert loaded["optimizer"]["param_groups"][0]["foreach"] is None
    for key in ("layer.weight", "layer.bias"):
        assert torch.equal(loaded["model"][key], original["model"][key])
        assert loaded["model"][key].dtype == original["model"][key].dtype
    assert torch.equal(loaded["rng"]["torch"], original["rng"]["torch"])


def test_file_is_plain_safetensors_with_json_metadata(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", _nested())
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        metadata = json.loads(handle.metadata()["engrammar"])
    assert "model/layer.weight" in keys and "optimizer/state/0/exp_avg" in keys
    assert metadata["format"] == "engrammar-checkpoint/1"
    assert metadata["data"]["model"]["layer.weight"] == {"__tensor__": "model/layer.weight"}


def test_objects_that_would_need_pickle_are_refused() -> None:
    with pytest.raises(TypeError, match="'extension/fn' is a function"):
        encode({"extension": {"fn": lambda: 1}}, {})
    tensors: dict = {}
    assert decode(encode([1, (2, 3)], tensors), tensors) == [1, (2, 3)]


def test_write_is_atomic(tmp_path) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"step": 1, "w": torch.ones(2)})

    def crash(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, crash)
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]  # no temporary left


def test_written_files_get_the_usual_permissions(tmp_path) -> None:
    import os
    import stat

    previous = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.safetensors", {"step": 1, "w": torch.ones(2)})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's owner-only 0o600


def test_loading_something_else_is_a_clear_error(tmp_path) -> None:
    from engrammar.spec import SpecError
    from safetensors.torch import save_file

    save_file({"w": torch.ones(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(SpecError, match="not an engrammar checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")
    with pytest.raises(SpecError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing")
