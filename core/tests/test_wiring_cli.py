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
    ctrl_row = next(line for line in out.splitlines() if line.startswith("│ ctrl"))
    assert "12" in ctrl_row and "104" in ctrl_row  # in = 4 + 8; parameters = 12 * 8 + 8
    mem_row = next(line for line in out.splitlines() if line.startswith("│ mem"))
    assert "32" in mem_row  # 8 floats of state
    history_row = next(line for line in out.splitlines() if "(history)" in line)
    assert "mem@-2" in history_row and "64" in history_row  # 2 steps x 8 floats


def test_in_features_and_set_override_the_file(wiring, capsys) -> None:
    assert main(["build", str(wiring), "--in-features", "10", "--set", "nodes.ctrl.out_features=3"]) == 0
    out = capsys.readouterr().out
    assert "feedback: in_features=10, out_features=2" in out
    ctrl_row = next(line for line in out.splitlines() if line.startswith("│ ctrl"))
    assert "13" in ctrl_row and "42" in ctrl_row  # in = 10 + 3; parameters = 13 * 3 + 3


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
    ],
)
def test_errors_are_one_line_with_exit_code_2(tmp_path, change, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(FEEDBACK.replace(*change))
    result = subprocess.run([sys.executable, "-m", "engrammar.cli", "build", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_bad_override_is_a_user_error(wiring, capsys) -> None:
    assert main(["build", str(wiring), "--set", "nodes.mme.x=1"]) == 2
    assert "override path 'nodes.mme' does not exist" in capsys.readouterr().err


def test_build_module_does_not_import_torch() -> None:
    code = "import sys, engrammar.cli.build_cmd; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"
