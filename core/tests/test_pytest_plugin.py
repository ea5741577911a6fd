"""The pytest plugin that installing engrammar registers changes nothing in other projects: pytest
starts where Hypothesis is not installed, and Hypothesis keeps its own default profile. The
conformance classes choose their profile themselves: engrammar-ci unless a run asks for another.

Runs that must not see this process's state (its loaded profile, its imported Hypothesis) are
subprocesses in a temporary folder, outside this repository and its conftest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import engrammar.testing.suite  # noqa: F401  (torch too) imported once, before pytest runs inside this process
import pytest
from engrammar.testing.profiles import ENV_VAR, load_selected_profile


def run_pytest(folder: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in (ENV_VAR, "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--rootdir={folder}", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )


TRIVIAL = """
import sys

def test_trivial(request):
    assert request.config.pluginmanager.has_plugin("engrammar")
    try:
        import hypothesis
    except ImportError:
        pass
    else:
        raise AssertionError("hypothesis was importable")
    assert "torch" not in sys.modules
"""

# An import hook that makes `import hypothesis` fail in the subprocess, as if it were not installed.
NO_HYPOTHESIS = """
import sys


class NoHypothesis:
    def find_spec(self, name, path=None, target=None):
        if name == "hypothesis" or name.startswith("hypothesis."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoHypothesis())
"""


@pytest.mark.parametrize("option", [[], ["--engrammar-profile=engrammar-thorough"]], ids=["plain", "option"])
def test_pytest_starts_and_runs_where_hypothesis_is_not_installed(tmp_path: Path, option: list[str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_trivial.py").write_text(TRIVIAL)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(NO_HYPOTHESIS)
    # Hypothesis' own pytest plugin would not be installed either.
    result = run_pytest(project, "-p", "no:hypothesispytest", *option, pythonpath=blocker)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


PRINT_DEFAULTS = """
from hypothesis import settings

def test_print_defaults(request):
    assert request.config.pluginmanager.has_plugin("engrammar")
    default = settings.default
    print(f"DEFAULTS max_examples={default.max_examples} derandomize={default.derandomize}")
"""

HYPOTHESIS_OWN = (
    "from hypothesis import settings; d = settings.default; "
    "print(f'DEFAULTS max_examples={d.max_examples} derandomize={d.derandomize}')"
)


def test_another_projects_hypothesis_default_profile_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "test_defaults.py").write_text(PRINT_DEFAULTS)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    own = subprocess.run([sys.executable, "-c", HYPOTHESIS_OWN], capture_output=True, text=True, env=env, check=True)
    printed = next(line for line in result.stdout.splitlines() if line.startswith("DEFAULTS"))
    assert printed == own.stdout.strip()
    assert "max_examples=4 " not in printed  # not engrammar-ci's


# A project whose own default profile is something else: the conformance class keeps its profile,
# the project's own Hypothesis test keeps the project's.
PROJECT = {
    "conftest.py": """
from hypothesis import settings

settings.register_profile("project", max_examples=7)
settings.load_profile("project")
""",
    "test_project.py": """
from hypothesis import given, strategies as st
from engrammar.testing import conformance_tests

TestLinear = conformance_tests("linear", specs=[{"out_features": 2}])

@given(st.integers())
def test_own(n):
    pass
""",
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(PROJECT["conftest.py"])
    pytester.makepyfile(test_project=PROJECT["test_project.py"])
    yield pytester
    load_selected_profile()  # the runs inside this process loaded other profiles


def stopped_at(result: pytest.RunResult, test: str) -> int:
    """max_examples a test ran under, from Hypothesis' statistics."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if test in line and "Hypothesis Statistics" not in line)
    for line in lines[start:]:
        if "Stopped because settings.max_examples=" in line:
            return int(line.split("=")[-1])
    raise AssertionError(result.stdout.str())


STATS = ("-p", "no:cacheprovider", "--hypothesis-show-statistics", "-k", "test_own or test_shapes")


def test_conformance_classes_run_under_engrammar_ci_whatever_the_projects_default(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    result = project.runpytest(*STATS)
    result.assert_outcomes(passed=2)
    assert stopped_at(result, "test_shapes[spec0]") == 4
    assert stopped_at(result, "test_own") == 7


@pytest.mark.parametrize(
    ("option", "variable"),
    [
        (["--engrammar-profile=engrammar-thorough"], None),
        ([], "engrammar-thorough"),
        (["--hypothesis-profile=engrammar-thorough"], None),
    ],
    ids=["option", "environment", "hypothesis-option"],
)
def test_a_run_can_choose_the_thorough_profile(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, option: list[str], variable: str | None
) -> None:
    if variable is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, variable)
    result = project.runpytest(*STATS, *option)
    result.assert_outcomes(passed=2)
    assert stopped_at(result, "test_shapes[spec0]") == 100


def test_the_option_wins_over_the_environment(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "engrammar-thorough")
    result = project.runpytest(*STATS, "--engrammar-profile=engrammar-ci")
    assert stopped_at(result, "test_shapes[spec0]") == 4
