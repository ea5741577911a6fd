"""``engrammar build FILE``: validates, prints the plan, parameters and state per node; exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest
from engrammar.cli import main

FEEDBACK = """\
name: feedback
in_features: 4
nodes:
  ctrl: {use: linear, out_features: 8, in: [x, mem@-2]}
  mem: {use: ema, in: ctrl}
  head: {use: linear, out_features: 2, in: [ctrl, mem]}
out: head
"""


@pytest.fixture
def wiring(tmp_path):
    path = tmp_path / "feedback.yaml"
    path.write_text(FEEDBACK)
    return path


def test_build_prints_plan_parameters_and_state(wiring, capsys) -> None:
    assert main(["build", str(wiring)]) == 0
    out = capsys.readouterr().out
    assert "feedback: in_features=4, out_features=2" in out
    assert "1. step-major: ctrl (linear <- x, mem@-2); mem (ema <- ctrl)" in out
    assert "2. layer-major: head (linear <- ctrl, mem)" in out
    # node, use, in, out, parameters, state bytes (float32)
    assert row(out, "ctrl") == ["ctrl", "linear", "12", "8", "104", "0"]  # in = 4 + 8; 12 * 8 + 8
    assert row(out, "mem") == ["mem", "ema", "8", "8", "8", "32"]  # 8 floats of state
    assert row(out, "head") == ["head", "linear", "16", "2", "34", "0"]
    assert row(out, "(history)") == ["(history)", "mem@-2", "", "", "0", "64"]  # 2 steps x 8 floats
    assert row(out, "total") == ["total", "", "", "", "146", "96"]


def row(out: str, name: str) -> list[str]:
    """The cells of the table row of ``name``."""
    line = next(line for line in out.splitlines() if line.startswith(f"│ {name} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_in_features_and_set_override_the_file(wiring, capsys) -> None:
    assert main(["build", str(wiring), "--in-features", "10", "--set", "nodes.ctrl.out_features=3"]) == 0
    out = capsys.readouterr().out
    assert "feedback: in_features=10, out_features=2" in out
    assert row(out, "ctrl") == ["ctrl", "linear", "13", "3", "42", "0"]  # in = 10 + 3; 13 * 3 + 3


def test_unused_node_is_printed_as_a_warning(tmp_path, capsys) -> None:
    path = tmp_path / "unused.yaml"
    path.write_text(FEEDBACK.replace("out: head", "  spare: {use: ema, in: x}\nout: head"))
    assert main(["build", str(path)]) == 0
    assert "warning: nodes.spare: unused" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("use: ema", "use: emma"), "error: nodes.mem.use: no component named 'emma'; did you mean 'ema'"),
        (("mem@-2", "mem"), "error: nodes.ctrl.in: cycle without a delay: ctrl -> mem -> ctrl"),
        (("in: [ctrl, mem]", "in: [ctrl, mme]"), "error: nodes.head.in[1]: no node named 'mme'"),
        (
            (
                "head: {use: linear, out_features: 2, in: [ctrl, mem]}",
                "head: {use: residual_gate, path: mem, bypass: x}",
            ),
            "error: nodes.head.bypass: width 4 does not match path's width 8",
        ),
        (("out: head", "out: head"), None),  # the file unchanged builds: the check itself works
    ],
)
def test_errors_are_one_line_with_exit_code_2(tmp_path, change, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(FEEDBACK.replace(*change))
    result = subprocess.run([sys.executable, "-m", "engrammar.cli", "build", str(path)], capture_output=True, text=True)
    if message is None:
        assert result.returncode == 0 and result.stderr == ""
        return
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""  # one line, nothing else


def test_bad_override_is_a_user_error(wiring, capsys) -> None:
    assert main(["build", str(wiring), "--set", "nodes.mme.x=1"]) == 2
    assert "override path 'nodes.mme' does not exist" in capsys.readouterr().err


def test_a_file_without_in_features_asks_for_the_option(tmp_path, capsys) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(FEEDBACK.replace("in_features: 4\n", ""))
    assert main(["build", str(path)]) == 2
    assert capsys.readouterr().err == (
        "error: in_features: missing: the width of the graph input x (write it in the file or pass --in-features N)\n"
    )
    assert main(["build", str(path), "--in-features", "5"]) == 0
    assert "feedback: in_features=5, out_features=2" in capsys.readouterr().out


def test_build_module_does_not_import_torch() -> None:
    code = "import sys, engrammar.cli.build_cmd; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"
