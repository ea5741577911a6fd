"""``engrammar train`` and ``engrammar eval`` end to end, and the model fitted to the task's widths."""

from __future__ import annotations

import json
from pathlib import Path

import engrammar
import engrammar_train
import pytest
import test_training_support  # noqa: F401  (registers the test task and component)
import torch
from engrammar.cli import main
from engrammar_train import build_for_task, build_task, rebuild_model

WIRING = """
name: tiny
in_features: 99
nodes:
  mem: {use: ema, in: x}
  proj: {use: linear, out_features: 5, in: [x, mem]}
out: proj
"""


def test_train_then_eval_from_the_command_line(tmp_path, capsys) -> None:
    wiring = tmp_path / "tiny.yaml"
    wiring.write_text(WIRING)
    out = tmp_path / "run"
    code = main(
        [
            "train",
            str(wiring),
            "--task",
            "echo_for_tests",
            "--steps",
            "6",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--seed",
            "3",
            "--set",
            "task.length=6",
            "--set",
            "train.eval_every=3",
            "--set",
            "nodes.proj.out_features=7",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    name, value = printed[-1].split(": ")
    assert name == "bit_errors" and float(value) >= 0
    assert any(line.startswith("plots: ") and "loss.png" in line for line in printed)
    for file in ("metrics.jsonl", "checkpoint.safetensors", "spec.json", "loss.png", "bit_errors.png"):
        assert (out / file).is_file(), file
    spec = json.loads((out / "spec.json").read_text())
    assert spec["model"]["in_features"] == 3  # set by the task, not the file's 99
    assert spec["model"]["nodes"]["proj"]["out_features"] == 7  # --set reached the wiring
    assert spec["model"]["nodes"]["readout"] == {"use": "linear", "in": "proj", "out_features": 3}  # 7 -> 3
    assert spec["model"]["out"] == "readout"
    assert spec["train"]["seed"] == 3

    assert main(["eval", str(out), "--task", "echo_for_tests"]) == 0
    evaluated = capsys.readouterr().out.strip().splitlines()[-1]
    assert evaluated == printed[-1]  # the same fixed evaluation batches, the same weights

    assert main(["eval", str(out / "checkpoint.safetensors"), "--set", "task.length=12"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("bit_errors: ")


def test_user_errors_exit_2_with_one_line(tmp_path, capsys) -> None:
    assert main(["train", "ema", "--task", "no_such_task", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "no component named 'no_such_task'" in capsys.readouterr().err
    assert main(["train", "ema", "--task", "echo_for_tests", "--set", "decay=3", "--out", str(tmp_path)]) == 2
    assert "ema.decay: unknown field" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    not_a_checkpoint = tmp_path / "wiring.yaml"
    not_a_checkpoint.write_text(WIRING)
    assert main(["eval", str(not_a_checkpoint)]) == 2
    assert "wiring.yaml: not a safetensors file" in capsys.readouterr().err
    assert main(["train", "ema", "--task", "echo_for_tests", "--out", str(not_a_checkpoint), "--no-progress"]) == 2
    assert "--out: " in capsys.readouterr().err


def test_eval_of_a_checkpoint_without_model_spec_is_a_one_line_error(tmp_path, capsys) -> None:
    from engrammar_train import Trainer

    task, _ = build_task("echo_for_tests")
    Trainer(engrammar.build("ema", in_features=3), task, {"steps": 1}, out_dir=tmp_path, progress=False).fit()
    assert main(["eval", str(tmp_path), "--task", "echo_for_tests"]) == 2
    assert "model: the checkpoint has no model spec" in capsys.readouterr().err


def test_eval_refuses_empty_evaluations(tmp_path, capsys) -> None:
    engrammar_train.train("ema", "echo_for_tests", steps=1, batch_size=2, out=tmp_path, progress=False)
    for flag in ("--batches", "--batch-size"):
        assert main(["eval", str(tmp_path), flag, "0"]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: {flag}: must be >= 1, got 0") and "Traceback" not in error


def test_read_out_only_when_the_widths_differ() -> None:
    task, _ = build_task("echo_for_tests", {"bits": 4})
    model, recipe = build_for_task("ema", task)
    assert type(model).__name__ == "EMA" and recipe == {
        "use": "ema",
        "in_features": 4,
        "init_decay": 0.9,
        "chunk_size": 16,
    }
    model, recipe = build_for_task({"use": "linear", "out_features": 9}, task, ["bias=false"])
    assert model.out_features == 4
    assert recipe == {
        "name": "linear",
        "in_features": 4,
        "nodes": {
            "linear": {"use": "linear", "in": "x", "out_features": 9, "bias": False},
            "readout": {"use": "linear", "in": "linear", "out_features": 4},
        },
        "out": "readout",
    }
    rebuilt = rebuild_model(json.loads(json.dumps(recipe)))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(rebuilt(x)[0], model(x)[0])
    clash = {"name": "c", "nodes": {"readout": {"use": "linear", "out_features": 2, "in": "x"}}, "out": "readout"}
    with pytest.raises(engrammar.SpecError, match="nodes.readout: a read-out to the task's width is added"):
        build_for_task(clash, task)


def test_train_from_python_returns_the_result(tmp_path) -> None:
    result = engrammar_train.train("ema", "echo_for_tests", steps=2, batch_size=2, out=tmp_path, progress=False)
    assert result.metric_name == "bit_errors" and result.metric == result.metrics["bit_errors"]
    assert result.step == 2 and result.checkpoint == Path(tmp_path) / "checkpoint.safetensors"
    assert {p.name for p in result.plots} == {"loss.png", "bit_errors.png"}
    task, _ = build_task("echo_for_tests")
    with pytest.raises(engrammar.SpecError, match="overrides need a wiring file or a component name"):
        build_for_task(engrammar.build("ema", in_features=3), task, ["init_decay=0.5"])
    with pytest.raises(engrammar.SpecError, match="pass a wiring or a name to get a read-out added"):
        build_for_task(engrammar.build("linear", in_features=3, out_features=2), task)
    built = engrammar.build("ema", in_features=3)
    assert build_for_task(built, task) == (built, {"use": "ema", "in_features": 3, "init_decay": 0.9, "chunk_size": 16})


def test_settings_of_the_first_release_still_read() -> None:
    from engrammar_train.config import migrate_config

    old = {"device": "cuda:1", "precision": "fp16", "steps": 5, "tricks": "ghost_gradients"}
    assert migrate_config(old) == {
        "accelerator": "cuda",
        "devices": "1,",
        "precision": "16-mixed",
        "steps": 5,
        "tricks": ("ghost_gradients",),
    }
    assert migrate_config({"device": "auto", "precision": "bf16"}) == {"accelerator": "auto", "precision": "bf16-mixed"}
    assert migrate_config({"precision": "fp32"}) == {"precision": "32-true"}
