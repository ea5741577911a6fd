"""Every developer and CI task is a nox session.

    nox -s tests          everything: core, every plugin, cross-package tests (editable installs), then
                          the `installed` session (the conformance suites and examples run from wheels)
    nox -s dist           build an sdist and a wheel of core and every plugin into dist/, check them
    nox -s installed      dist, then only those wheels in a fresh environment, run from a temporary
                          folder: `engrammar list`, the examples, the demo; then each plugin's wheel
                          alone beside core's: every module imports, its conformance tests pass
    nox -s installed-lowest   the wheels with every dependency at the lowest version its range admits
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
import shutil
import sys
import tempfile
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


#: Run from the wheels by the `installed` session (plugin alone beside core, or all together), so
#: the editable run of `tests` leaves them out.
FROM_WHEELS = (
    *(p for p in CONFORMANCE_TESTS if p.startswith("plugins/")),
    "tests/test_examples.py",
)


@nox.session
def tests(session: nox.Session) -> None:
    """Core, every plugin and the cross-package tests, in one environment (editable installs); then
    the `installed` session. With arguments (``nox -s tests -- -k dnc``) every test is run editable
    and pytest gets the arguments; the `installed` session is not run."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    paths = ["core/tests", *(f"plugins/{name}/tests" for name in PLUGINS), "tests"]
    skip = () if session.posargs else tuple(f"--ignore={path}" for path in FROM_WHEELS)
    session.run("python", "-m", "pytest", "-q", *session.posargs, *skip, *paths, env=_env())
    if not session.posargs:
        session.notify("installed")


for _name in PLUGINS:

    @nox.session(name=f"plugin-{_name}")
    def plugin(session: nox.Session, name: str = _name) -> None:
        """One plugin installed alone beside core: proves it needs no other plugin."""
        install(session, "core", f"plugins/{name}", *test_dependencies(f"plugins/{name}"))
        session.run("python", "-m", "pytest", "-q", *session.posargs, f"plugins/{name}/tests", env=_env())


# ---- release: the wheels users install ------------------------------------------------------------

DIST = ROOT / "dist"
#: What the examples themselves import, beyond the distributions (examples/classification.py).
EXAMPLE_TOOLS = ("scikit-learn>=1.3",)


def build_dists(session: nox.Session) -> list[Path]:
    """An sdist and a wheel of core and every plugin into dist/ (emptied first). `build` makes each
    wheel from the unpacked sdist, away from the repository: a plugin whose sdist cannot build on
    its own fails here. Then twine's metadata check and tools/check_dists.py."""
    session.install("build[uv]>=1.2", "twine>=6.1")
    shutil.rmtree(DIST, ignore_errors=True)
    for folder in FOLDERS.values():
        session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(DIST), folder, silent=True)
    built = sorted(DIST.iterdir())
    session.run("twine", "check", "--strict", *map(str, built))
    session.run("python", "tools/check_dists.py", str(DIST))
    return built


@nox.session
def dist(session: nox.Session) -> None:
    """Build and check the sdists and wheels of core and every plugin (into dist/)."""
    build_dists(session)


def _wheel(name: str) -> Path:
    (found,) = DIST.glob(f"{re.sub(r'[-_.]+', '_', name)}-*-py3-none-any.whl")
    return found


def _first_party_constraints(folder: Path) -> str:
    """A constraints file that pins every first-party distribution to its wheel in dist/: pip takes
    them from there and nowhere else, and the third-party ones from the package index."""
    path = folder / "first-party.txt"
    path.write_text("".join(f"{name} @ {_wheel(name).as_uri()}\n" for name in FOLDERS))
    return str(path)


def _test_tree(folder: Path) -> Path:
    """The tests, examples and pytest settings, copied without any source: an import can only find
    the installed wheels."""
    tree = folder / "tree"
    tree.mkdir()
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, tree / name)
    for part in ("core/tests", "tests", "examples", *(f"plugins/{name}/tests" for name in PLUGINS)):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def _purge(session: nox.Session, keep: set[str]) -> None:
    """Uninstall every distribution but ``keep`` (pip and torch with its own dependencies)."""
    listed = session.run("python", "-m", "pip", "list", "--format=freeze", silent=True) or ""
    names = [line.split("==")[0] for line in str(listed).splitlines() if "==" in line]
    extra = [name for name in names if name.lower() not in keep]
    if extra:
        session.run("python", "-m", "pip", "uninstall", "-y", "-q", *extra, silent=True)


@nox.session(reuse_venv=False)
def installed(session: nox.Session) -> None:
    """What a user gets from the package index: dist first, then only the wheels, in this fresh
    environment, run from a temporary folder holding copies of the tests and examples (no source
    tree, no editable install):

    1. every wheel: `engrammar --version`, `engrammar list`, the examples' tests and every plugin's
       conformance tests, each example script and the demo with a few steps;
    2. each plugin's wheel alone beside core's (and the distributions it declares): every module
       imports and every entry point loads with its declared dependencies only. (Its tests alone
       beside core: `nox -s plugin-NAME`.)
    """
    build_dists(session)
    session.install("pip>=25")  # URL constraints with extras
    session.install(*CONSTRAINTS, "torch")
    listed = session.run("python", "-m", "pip", "list", "--format=freeze", silent=True) or ""
    keep = {line.split("==")[0].lower() for line in str(listed).splitlines() if "==" in line}
    env = _env()
    with tempfile.TemporaryDirectory(prefix="engrammar-installed-") as temporary:
        work = Path(temporary)
        pins = ("-c", _first_party_constraints(work))
        tree = _test_tree(work)
        checker = str(ROOT / "tools" / "check_installed.py")
        session.chdir(tree)

        # core's test extra: pytest and Hypothesis for the examples' tests
        every = [f"{name}{'[test]' if name == 'engrammar' else ''} @ {_wheel(name).as_uri()}" for name in FOLDERS]
        session.install(*CONSTRAINTS, *pins, *every, *EXAMPLE_TOOLS)
        session.run("python", checker, *FOLDERS, env=env)
        session.run("engrammar", "--version", env=env)
        session.run("engrammar", "list", env=env)
        conformance = sorted(str(p.relative_to(tree)) for p in tree.glob("plugins/*/tests/test_conformance*.py"))
        session.run("python", "-m", "pytest", "-q", "tests/test_examples.py", *conformance, env=env)
        session.run("python", "examples/classification.py", "--seeds", "0", "--epochs", "1", env=env)
        session.run("python", "examples/demo.py", "--steps", "20", "--out", str(work / "demo"), env=env)

        for name in PLUGINS:
            distribution = _project(f"plugins/{name}")["name"]
            _purge(session, keep)
            session.install(*CONSTRAINTS, *pins, f"{distribution} @ {_wheel(distribution).as_uri()}")
            session.run("python", checker, distribution, env=env)
        session.chdir(ROOT)


def lowest_constraints() -> list[str]:
    """``name==X`` for every ``name>=X`` that a first-party distribution's dependencies declare
    (torch aside: constraints.txt pins it): the oldest versions the ranges promise to work with."""
    floors: dict[str, str] = {}
    for folder in FOLDERS.values():
        project = _project(folder)
        for requirement in project.get("dependencies", []):
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*>=\s*([\w.]+)", requirement.split(";")[0].strip())
            if match and match.group(1) not in FOLDERS and match.group(1) != "torch":
                name, floor = match.groups()
                floors[name] = max(floors.get(name, floor), floor, key=lambda v: tuple(map(int, v.split("."))))
    return [f"{name}=={floor}" for name, floor in sorted(floors.items())]


@nox.session(name="installed-lowest", reuse_venv=False)
def installed_lowest(session: nox.Session) -> None:
    """The wheels of dist/ (`nox -s dist` first) with every dependency at the lowest version its
    declared range admits: engrammar list, every conformance suite, the examples' tests and the demo.
    Proves the lower bounds of the ranges hold (not part of `tests`: older versions can take long to
    install)."""
    session.install("pip>=25")
    env = _env()
    with tempfile.TemporaryDirectory(prefix="engrammar-lowest-") as temporary:
        work = Path(temporary)
        lowest = work / "lowest.txt"
        lowest.write_text("\n".join(lowest_constraints()) + "\n")
        session.log("lowest versions: " + ", ".join(lowest_constraints()))
        pins = ("-c", _first_party_constraints(work), "-c", str(lowest))
        tree = _test_tree(work)
        session.chdir(tree)
        session.install(*CONSTRAINTS, *pins, *(f"{name}[test] @ {_wheel(name).as_uri()}" for name in FOLDERS))
        session.run("python", str(ROOT / "tools" / "check_installed.py"), *FOLDERS, env=env)
        session.run("engrammar", "list", env=env)
        tests = sorted(str(p.relative_to(tree)) for p in tree.glob("plugins/*/tests/test_conformance*.py"))
        session.run("python", "-m", "pytest", "-q", *tests, "tests/test_examples.py", env=env)
        session.run("python", "examples/demo.py", "--steps", "20", "--out", str(work / "demo"), env=env)
        session.chdir(ROOT)


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
    "pytorch-lightning",  # benchmarks/seam_speed.py: Lightning's own Trainer beside the plain loop
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
def leaderboard(session: nox.Session) -> None:
    """Rerun docs/leaderboard.md's matrix (resumable: cells already in runs/leaderboard are reused)
    and copy its heat map to docs/figures/leaderboard.png; about an hour on a loaded 2-core CPU."""
    install(session, "core", *(f"plugins/{name}" for name in PLUGINS))
    session.run(
        "engrammar", "bench",
        "--models", "ema,lstm,gru,transformer,dnc,ntm,gated_deltanet,gated_delta_rnn,neural_memory,ttt_linear,"
        "kv_attention,sliding_window,episodic,pulse,realnet",
        "--tasks", "copy,repeat_copy,associative_recall,mqar,parity,priority_sort,antipodal,n_back",
        "--steps", "150", "--seeds", "2", "--jobs", "2", "--out", "runs/leaderboard",
        env=_env(),
    )  # fmt: skip
    shutil.copyfile(ROOT / "runs" / "leaderboard" / "bench.png", ROOT / "docs" / "figures" / "leaderboard.png")


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
    session.run(
        "python", "benchmarks/realnet_depth.py", "--plot", "docs/figures/realnet/thinking_steps.png", env=_env()
    )
    # PULSE's routing with and without the load-balancing loss (docs/pulse.md), seed 0
    for weight, label in (("0", "unbalanced"), ("0.01", "balanced")):
        out = f"runs/figures/pulse-{label}"
        session.run(
            "engrammar", "train", "plugins/pulse/examples/pulse_recall.yaml",
            "--task", "associative_recall", "--steps", "600", "--seed", "0",
            "--set", "train.lr=3e-3", "--set", "train.eval_every=100",
            "--set", f"nodes.mem.balance_weight={weight}", "--out", out,
            env=_env(),
        )  # fmt: skip
        shutil.copyfile(
            ROOT / out / "trace" / "nodes_mem_router_routing_weights.png",
            ROOT / "docs" / "figures" / "pulse" / f"associative_recall_routing_{label}.png",
        )
