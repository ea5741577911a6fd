"""Every developer and CI task is a nox session.

    nox -s tests          everything: core, every plugin, cross-package tests
    nox -s plugin-dnc     one plugin installed alone beside core (and the first-party
                          packages its `test` extra names), its own tests
    nox -s lint           ruff
    nox -s types          mypy on core
    nox -s demo           the README demo

torch is pinned by constraints.txt to the version the project is tested with; on a machine with
no GPU, point pip at a CPU build of that version (PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL) to skip
the CUDA libraries.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())


def _project(folder: str) -> dict:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]


#: distribution name -> its folder, for every first-party package
FOLDERS = {_project(f)["name"]: f for f in ["core", *(f"plugins/{name}" for name in PLUGINS)]}


def test_dependencies(folder: str) -> list[str]:
    """Folders of the first-party distributions that a package's ``test`` extra lists (a plugin's
    tests may run another plugin, as engrammar-dnc's run the trainer of engrammar-train)."""
    extra = _project(folder).get("optional-dependencies", {}).get("test", [])
    names = (re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0] for requirement in extra)
    return [FOLDERS[name] for name in names if name in FOLDERS]


CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
TEST_TOOLS = ("pytest>=8", "hypothesis>=6.100", "hatchling>=1.18", "scipy>=1.10")  # scipy: a reference in tests

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def install(session: nox.Session, *packages: str) -> None:
    session.install(*CONSTRAINTS, "torch")
    # Each package with its test extra: what its tests need (safetensors for core's conformance
    # round trip, matplotlib for engrammar-routers' plot tests, ...).
    editable = [arg for p in packages for arg in ("-e", f"{p}[test]")]
    session.install(*CONSTRAINTS, *editable, *TEST_TOOLS)


def _env() -> dict[str, str]:
    # Two cores on CI: one intra-op thread per test process keeps runs predictable.
    return {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@nox.session
def tests(session: nox.Session) -> None:
    """Core, every plugin and the cross-package tests, in one environment."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    paths = ["core/tests", *(f"plugins/{name}/tests" for name in PLUGINS), "tests"]
    session.run("python", "-m", "pytest", "-q", *session.posargs, *paths, env=_env())


for _name in PLUGINS:

    @nox.session(name=f"plugin-{_name}")
    def plugin(session: nox.Session, name: str = _name) -> None:
        """One plugin installed alone beside core: proves it needs no other plugin."""
        install(session, "core", f"plugins/{name}", *test_dependencies(f"plugins/{name}"))
        session.run("python", "-m", "pytest", "-q", *session.posargs, f"plugins/{name}/tests", env=_env())


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    install(session, "core")
    session.install("mypy>=1.10")
    session.run("mypy", "core/src/engrammar")


@nox.session
def demo(session: nox.Session) -> None:
    """The README demo: list what is installed, then train a small model on CPU."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    session.run("engrammar", "list", env=_env())
    # One intra-op thread: the figures in docs/training.md were measured that way.
    session.run("python", "examples/demo.py", *session.posargs, env=_env())
