"""The command line: tables, descriptions, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from engrammar.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engrammar.cli", *args], capture_output=True, text=True)


def test_list_prints_a_table_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ema" in out and "linear" in out and "distribution" in out
    assert main(["list", "memories", "--pattern", "lin*"]) == 0
    assert "linear" not in capsys.readouterr().out


def test_describe_shows_fields_rules_and_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", "ema", "--in-features", "5"]) == 0
    out = capsys.readouterr().out
    assert "init_decay" in out and "in (0.0, 1.0)" in out
    assert "average" in out and "('B', 5)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe", "emma"], "error: no component named 'emma'; did you mean 'ema'?"),
        (["describe", "ema", "--in-features", "0"], "error: ema.in_features: must be >= 1, got 0"),
        (
            ["describe", "ema", "--in-features", "2", "--set", "init_decay=2"],
            "error: ema.init_decay: must be in (0.0, 1.0), got 2",
        ),
        (
            ["describe", "ema", "--in-features", "2", "--set", "decay=0.5"],
            "error: ema.decay: unknown field; did you mean 'init_decay'?",
        ),
        (["describe", "linear", "--in-features", "2"], "error: linear.out_features: missing required field"),
        (["list", "gadgets"], "error: unknown kind 'gadgets'"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_version_names_core_and_every_installed_plugin_with_its_version() -> None:
    from importlib.metadata import version

    import engrammar

    result = run("--version")
    assert result.returncode == 0, result.stderr
    first, *others = result.stdout.splitlines()
    assert first == f"engrammar {engrammar.__version__}"
    shown = dict(line.split() for line in others)
    assert "engrammar" not in shown
    for name, shown_version in shown.items():
        assert shown_version == version(name)


def test_list_names_the_installed_distributions_and_their_versions(capsys: pytest.CaptureFixture[str]) -> None:
    import engrammar

    assert main(["list", "layers"]) == 0
    assert f"engrammar {engrammar.__version__}" in capsys.readouterr().out
