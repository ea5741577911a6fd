"""Plugin failures: a plugin whose module raises on import, whose entry point names a class that
is not there, or whose class has no proper spec. ``engrammar list`` still works and lists them;
``engrammar list --check`` marks each as broken with its cause; building one gives one line naming
its distribution and the cause; every other plugin keeps working.

The fixture package is installed with pip into a temporary folder (a real install), and every
check runs in a subprocess with that folder on its path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "broken_plugin"
BROKEN = {
    "broken_memory": "RuntimeError: this plugin is broken on purpose",
    "missing_memory": "AttributeError: module 'broken_plugin.malformed' has no attribute 'NotThere'",
    "malformed_memory": "is not an attrs class",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(target), str(FIXTURE)], check=True)
    return target


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)


def test_list_still_works_and_lists_the_broken_entries(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "memories")
    assert result.returncode == 0, result.stderr
    for name in [*BROKEN, "ema"]:
        assert name in result.stdout


def test_list_check_marks_each_broken_entry_with_its_cause(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "memories", "--check")
    assert result.returncode == 1, result.stderr
    text = " ".join(result.stdout.split())  # the table folds long cells
    assert f"{len(BROKEN)} broken" in text
    rows = {name: next(line for line in result.stdout.splitlines() if f" {name} " in line) for name in BROKEN}
    for row in rows.values():
        assert "BROKEN" in row, row
    assert "RuntimeError" in text and "NotThere" in text and "attrs class" in text
    ema_row = next(line for line in result.stdout.splitlines() if " ema " in line)
    assert "BROKEN" not in ema_row


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_building_a_broken_entry_gives_one_line_naming_distribution_and_cause(
    site: Path, tmp_path: Path, name: str
) -> None:
    wiring = tmp_path / "uses_broken.yaml"
    wiring.write_text(f"in_features: 4\nnodes:\n  mem: {{use: {name}, in: x}}\nout: mem\n")
    result = run(site, "-m", "engrammar.cli", "build", str(wiring))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "broken-plugin 0.0.1" in lines[0] and BROKEN[name] in lines[0], lines[0]
    code = "import engrammar; print(engrammar.build('lstm', in_features=2, hidden_size=3).out_features)"
    assert run(site, "-c", code).stdout.strip() == "3"
