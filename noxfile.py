"""Every developer and CI task is a nox session.

    nox -s tests          everything: core, every plugin, cross-package tests
    nox -s plugin-dnc     one plugin installed alone beside core (and the first-party
                          packages its `test` extra names), its own tests
    nox -s conformance-thorough   every conformance suite with 100 random draws per (property, spec)
    nox -s reliability-thorough   the reliability suite (tests/reliability) at full size
    nox -s lint           ruff
    nox -s types          mypy on core
    nox -s demo           the README demo
    nox -s docs           the documentation site, built strictly into site/

torch is pinned by constraints.txt to the version the project is tested with; on a machine with
no GPU, point pip at a CPU build of that version (PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL) to skip
the CUDA libraries.
"""

from __future__ import annotations

import os
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
    """Folders of the first-party distributions that a package depends on or that its ``test``
    extra lists (engrammar-pulse needs engrammar-routers at run time, and its tests the trainer):
    installed from this repository beside it, never asked of the package index."""
    project = _project(folder)
    extra = [*project.get("dependencies", []), *project.get("optional-dependencies", {}).get("test", [])]
    names = (re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0] for requirement in extra)
    return [FOLDERS[name] for name in dict.fromkeys(names) if name in FOLDERS and FOLDERS[name] != "core"]


CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
# the documentation site (tests/test_docs_site.py builds it strictly, as `nox -s docs` does)
DOCS_TOOLS = ("mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")
# scipy: a reference in tests; matplotlib: the plot tests (core and the plugins import it only to plot)
TEST_TOOLS = ("pytest>=8", "hypothesis>=6.100", "hatchling>=1.18", "scipy>=1.10", "matplotlib>=3.7", *DOCS_TOOLS)

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def install(session: nox.Session, *packages: str, test: bool = True) -> None:
    session.install(*CONSTRAINTS, "torch")
    # The packages first, then (for tests) each with its test extra: what its tests need
    # (safetensors for core's conformance round trip, TensorBoard and MLflow for engrammar-train's
    # loggers, ...). A test extra that names another first-party distribution (engrammar-train)
    # then finds it installed instead of asking the package index for it.
    session.install(*CONSTRAINTS, *(arg for p in packages for arg in ("-e", p)))
    if test:
        session.install(*CONSTRAINTS, *(arg for p in packages for arg in ("-e", f"{p}[test]")), *TEST_TOOLS)


PROFILE_VARIABLE = "ENGRAMMAR_HYPOTHESIS_PROFILE"
CONFORMANCE_TESTS = (
    "core/tests/test_conformance_catches.py",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "plugins").glob("*/tests/test_conformance*.py"))),
    "tests/test_examples.py",
)


def _env() -> dict[str, str]:
    # Two cores on CI: one intra-op thread per test process keeps runs predictable. Hypothesis
    # draws: engrammar-ci unless the caller's environment names another profile.
    profile = os.environ.get(PROFILE_VARIABLE, "engrammar-ci")
    return {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", PROFILE_VARIABLE: profile}


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


@nox.session(name="conformance-thorough")
def conformance_thorough(session: nox.Session) -> None:
    """Every conformance suite under engrammar-thorough (long: run it before a release, not per commit)."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    env = {**_env(), PROFILE_VARIABLE: "engrammar-thorough"}
    session.run("python", "-m", "pytest", "-q", *session.posargs, *CONFORMANCE_TESTS, env=env)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ in strict mode: a broken link, a missing reference
    or a page outside the nav fails. `nox -s docs -- serve` serves it instead."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS), test=False)
    session.install(*DOCS_TOOLS)
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env=env)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


@nox.session(name="reliability-thorough")
def reliability_thorough(session: nox.Session) -> None:
    """The reliability suite at full size: 10,000 fuzzed wirings, 25 kills of a training run,
    100,000 streamed steps per memory (long: hours on two cores; run before a release)."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    env = {**_env(), PROFILE_VARIABLE: "engrammar-thorough"}
    session.run("python", "-m", "pytest", "-q", "-s", *session.posargs, "tests/reliability", env=env)


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
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS), test=False)
    session.run("engrammar", "list", env=_env())
    # One intra-op thread: the figures in docs/training.md were measured that way.
    session.run("python", "examples/demo.py", *session.posargs, env=_env())


# The peer packages the benchmarks compare against; never dependencies of a plugin or its tests.
BENCH_REFERENCES = (
    "dnc",
    "flann",
    "fla-core",
    "triton",
    "einops",
    # titans-pytorch and what it imports
    "titans-pytorch",
    "x-transformers",
    "assoc-scan",
    "einx",
    "tensordict",
    "pyvers",
    "cloudpickle",
    "frozendict",
    "tqdm",
    "loguru",
    "axial-positional-embedding",
    "rotary-embedding-torch",
    "hyper-connections",
    "torch-einops-utils",
)


@nox.session
def bench(session: nox.Session) -> None:
    """Install the reference packages beside every plugin, then run the benchmark scripts named
    (default: all of benchmarks/*.py). Each prints its table; none asserts a timing."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    # --no-deps: a reference package must not replace the pinned torch.
    session.install("--no-deps", *BENCH_REFERENCES)
    scripts = session.posargs or sorted(str(p) for p in (ROOT / "benchmarks").glob("*.py"))
    for script in scripts:
        session.run("python", script, env=_env())


@nox.session
def figures(session: nox.Session) -> None:
    """Regenerate the figures under docs/figures/ from training runs (not committed by hand)."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    run = "runs/figures/gated_delta_rnn-antipodal"
    session.run(
        "engrammar", "train", "plugins/gated_delta/examples/gated_delta_rnn_antipodal.yaml",
        "--task", "antipodal", "--steps", "600", "--batch-size", "32",
        "--set", "train.lr=3e-3", "--set", "train.eval_every=50", "--out", run,
        env=_env(),
    )  # fmt: skip
    session.run(
        "python", "-m", "engrammar_gated_delta.plots", run,
        "--out", "docs/figures/gated_delta", "--time-range", "0", "200",
        env=_env(),
    )  # fmt: skip
