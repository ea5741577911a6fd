"""The path a researcher outside the project takes: install a separate package with one entry
point, see it listed, build it by name, run the conformance suite on it with one line — and a
broken plugin next to it lists, fails clearly when built, and breaks nothing else.

The fixture packages are installed with pip into a temporary folder (a real, non-editable install),
and every check runs in a subprocess that has that folder on its path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from engrammar.testing.properties import PROPERTIES

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(FIXTURES / "acme_memories"),
            str(FIXTURES / "broken_plugin"),
        ],
        check=True,
    )
    return target


def run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_the_installed_plugin_is_listed_with_its_distribution(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "memories")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "acme_elman" in line)
    assert "acme-memories" in row and "0.3.0" in row and "Elman memory" in row
    assert "broken_memory" in result.stdout  # a broken plugin still lists


def test_it_builds_by_name_and_runs(site: Path) -> None:
    code = (
        "import torch, engrammar;"
        "m = engrammar.build('acme_elman', in_features=3, hidden_size=5);"
        "y, s = m(torch.randn(2, 4, 3));"
        "print(type(m).__module__, tuple(y.shape), tuple(s['hidden'].shape))"
    )
    result = run(site, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["acme_memories.elman", "(2,", "4,", "5)", "(2,", "5)"]


def test_it_builds_from_its_spec_without_importing_other_plugins(site: Path) -> None:
    code = (
        "import sys, engrammar;"
        "from acme_memories.elman import ElmanSpec;"
        "m = engrammar.build(ElmanSpec(in_features=3, hidden_size=5));"
        "print(type(m).__name__, m.out_features, 'broken_plugin.memory' in sys.modules)"
    )
    result = run(site, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ElmanMemory", "5", "False"]


def test_its_one_line_conformance_suite_passes(site: Path) -> None:
    tests = FIXTURES / "acme_memories" / "tests"
    result = run(
        site,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={tests.parent}",
        f"--confcutdir={tests}",
        str(tests),
        cwd=tests,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # one case per (spec, property): the fixture lists two specs
    assert f"{2 * len(PROPERTIES)} passed" in result.stdout


def test_a_broken_plugin_fails_clearly_and_others_still_build(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "describe", "broken_memory")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: component 'broken_memory' from distribution broken-plugin 0.0.1 failed to import"
    )
    assert "RuntimeError: this plugin is broken on purpose" in result.stderr
    assert "Traceback" not in result.stderr
    code = "import engrammar; print(engrammar.build('acme_elman', in_features=2).out_features)"
    assert run(site, "-c", code).stdout.strip() == "8"
