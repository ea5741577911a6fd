"""Packaging promises that span distributions: `pip install engrammar[all]` names every first-party
plugin, and core's own dependencies hold nothing for plotting or checkpoint files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0] for requirement in requirements}


def test_the_all_extra_lists_every_first_party_plugin() -> None:
    plugins = {
        project(folder)["name"] for folder in (ROOT / "plugins").iterdir() if (folder / "pyproject.toml").is_file()
    }
    assert names(project(ROOT / "core")["optional-dependencies"]["all"]) == plugins


def test_core_depends_on_nothing_for_plots_or_checkpoints() -> None:
    dependencies = names(project(ROOT / "core")["dependencies"])
    assert not dependencies & {"matplotlib", "safetensors", "numpy", "lightning", "lightning-fabric"}
    assert {"torch", "attrs", "cattrs", "pluggy", "rich"} <= dependencies


# ---- the release checks of tools/check_dists.py (`nox -s dist` runs them on the built files) ----------


def _load_tool(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"engrammar_tool_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


check_dists = _load_tool("check_dists")
VERSION = check_dists.release_version()


def test_the_release_version_is_core_s_version_and_a_changelog_entry() -> None:
    import engrammar

    assert engrammar.__version__ == VERSION
    assert f"## {VERSION}" in (ROOT / "CHANGELOG.md").read_text()


def test_every_distribution_is_found_and_its_pyproject_follows_the_release_rules() -> None:
    packages = check_dists.discover()
    folders = {p.folder.relative_to(ROOT).as_posix() for p in packages}
    assert folders == {"core", *(f"plugins/{p.parent.name}" for p in (ROOT / "plugins").glob("*/pyproject.toml"))}
    problems = [problem for package in packages for problem in check_dists.pyproject_problems(package, VERSION)]
    assert problems == []


def test_every_plugin_s_range_of_core_admits_the_current_core() -> None:
    for package in check_dists.discover():
        if package.is_core:
            continue
        (requirement,) = [r for r in package.project["dependencies"] if check_dists.requirement_name(r) == "engrammar"]
        specifier = requirement.removeprefix("engrammar").split(";")[0]
        assert check_dists.admits(specifier, VERSION), (package.name, requirement, VERSION)
        assert "<" in specifier, f"{package.name}: {requirement} has no upper bound"


def test_each_distribution_carries_a_copy_of_the_licence() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "The engrammar authors" in licence
    for package in check_dists.discover():
        assert (package.folder / "LICENSE").read_text() == licence, package.folder


def test_no_plugin_writes_its_version_by_hand() -> None:
    for path in (ROOT / "plugins").glob("*/src/**/*.py"):
        assert not re.search(r"^__version__\s*=\s*['\"]", path.read_text(), flags=re.MULTILINE), path


def test_specifiers_are_read_as_pip_reads_them() -> None:
    admits = check_dists.admits
    assert admits(">=0.1,<0.2", "0.1.0") and admits(">=0.1,<0.2", "0.1.7")
    assert not admits(">=0.1,<0.2", "0.2.0") and not admits(">=0.2", "0.1.9")
    assert admits("~=0.1.2", "0.1.5") and not admits("~=0.1.2", "0.2.0")
    assert admits("==0.1.*", "0.1.3") and not admits("==0.1.*", "0.10.0")


# A made-up repository with one plugin, to show what the checks catch.

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"

[project]
name = "engrammar-acme"
dynamic = ["version"]
readme = "README.md"
license = "MIT"
license-files = ["LICENSE"]
dependencies = ["engrammar>=0.3,<0.4"]

[project.entry-points."engrammar.memories"]
acme = "engrammar_acme.memory:Acme"

[tool.hatch.build.targets.wheel]
packages = ["src/engrammar_acme"]

[tool.hatch.version]
path = "../../core/src/engrammar/__init__.py"
"""


def _repository(tmp_path: Path, pyproject: str = PLUGIN_PYPROJECT) -> Path:
    (tmp_path / "core/src/engrammar").mkdir(parents=True)
    (tmp_path / "LICENSE").write_text("MIT License\n")
    (tmp_path / "core/src/engrammar/__init__.py").write_text('__version__ = "0.3.1"\n')
    (tmp_path / "core/pyproject.toml").write_text('[project]\nname = "engrammar"\n')
    plugin = tmp_path / "plugins/acme"
    (plugin / "src/engrammar_acme/conf").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(pyproject)
    (plugin / "README.md").write_text("# engrammar-acme\n")
    (plugin / "LICENSE").write_text("MIT License\n")
    (plugin / "src/engrammar_acme/__init__.py").write_text("")
    (plugin / "src/engrammar_acme/memory.py").write_text("class Acme: ...\n")
    (plugin / "src/engrammar_acme/py.typed").write_text("")
    (plugin / "src/engrammar_acme/conf/config.yaml").write_text("size: 4\n")
    return plugin


def _wheel(tmp_path: Path, plugin: Path, drop: tuple[str, ...] = (), add: dict[str, str] | None = None) -> Path:
    import zipfile

    info = "engrammar_acme-0.3.1.dist-info"
    files = {
        f"engrammar_acme/{p.relative_to(plugin / 'src/engrammar_acme').as_posix()}": p.read_text()
        for p in (plugin / "src/engrammar_acme").rglob("*")
        if p.is_file()
    }
    files |= {
        f"{info}/METADATA": "Metadata-Version: 2.4\nName: engrammar-acme\nVersion: 0.3.1\n"
        "Description-Content-Type: text/markdown\n\n# engrammar-acme\n",
        f"{info}/licenses/LICENSE": "MIT License\n",
        f"{info}/entry_points.txt": "[engrammar.memories]\nacme = engrammar_acme.memory:Acme\n",
        **(add or {}),
    }
    path = tmp_path / "engrammar_acme-0.3.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            if name not in drop:
                archive.writestr(name, text)
    return path


def _acme(plugin: Path):
    (package,) = [p for p in check_dists.discover(plugin.parent.parent) if not p.is_core]
    return package


def test_a_well_made_plugin_passes(tmp_path: Path) -> None:
    plugin = _repository(tmp_path)
    package = _acme(plugin)
    assert check_dists.release_version(tmp_path) == "0.3.1"
    assert check_dists.pyproject_problems(package, "0.3.1") == []
    assert check_dists.wheel_problems(package, _wheel(tmp_path, plugin), "0.3.1") == []


def test_what_a_wheel_lacks_is_named(tmp_path: Path) -> None:
    plugin = _repository(tmp_path)
    package = _acme(plugin)
    wheel = _wheel(
        tmp_path,
        plugin,
        drop=(
            "engrammar_acme/py.typed",
            "engrammar_acme/conf/config.yaml",
            "engrammar_acme-0.3.1.dist-info/licenses/LICENSE",
        ),
    )
    problems = check_dists.wheel_problems(package, wheel, "0.3.1")
    assert any("engrammar_acme/py.typed is missing" in p for p in problems)
    assert any("engrammar_acme/conf/config.yaml is missing" in p for p in problems)
    assert any("licenses/LICENSE is missing" in p for p in problems)
    assert len(problems) == 4  # py.typed: missing as a marker and as a source file


def test_an_undeclared_top_level_package_fails_and_a_declared_one_passes(tmp_path: Path) -> None:
    plugin = _repository(tmp_path)
    extra = {"nsm/__init__.py": "", "nsm/py.typed": ""}
    (problem,) = check_dists.wheel_problems(_acme(plugin), _wheel(tmp_path, plugin, add=extra), "0.3.1")
    assert "installs the top-level name 'nsm'" in problem and 'extra-top-level = ["nsm"]' in problem

    declared = PLUGIN_PYPROJECT.replace(
        'packages = ["src/engrammar_acme"]',
        'packages = ["src/engrammar_acme", "src/nsm"]\n\n[tool.engrammar]\nextra-top-level = ["nsm"]',
    )
    plugin = _repository(tmp_path / "declared", declared)
    (plugin / "src/nsm").mkdir()
    (plugin / "src/nsm/__init__.py").write_text("")
    (plugin / "src/nsm/py.typed").write_text("")
    assert check_dists.pyproject_problems(_acme(plugin), "0.3.1") == []
    assert check_dists.wheel_problems(_acme(plugin), _wheel(tmp_path / "declared", plugin, add=extra), "0.3.1") == []


def test_an_entry_point_to_a_module_the_wheel_lacks_is_named(tmp_path: Path) -> None:
    plugin = _repository(tmp_path)
    wheel = _wheel(tmp_path, plugin, drop=("engrammar_acme/memory.py",))
    problems = check_dists.wheel_problems(_acme(plugin), wheel, "0.3.1")
    assert any("entry point engrammar.memories:acme names the module engrammar_acme.memory" in p for p in problems)


def test_a_pyproject_from_before_the_release_rules_is_told_what_to_add(tmp_path: Path) -> None:
    old = (
        PLUGIN_PYPROJECT.replace('dynamic = ["version"]', 'version = "0.3.1"')
        .replace('license-files = ["LICENSE"]\n', "")
        .replace("engrammar>=0.3,<0.4", "engrammar>=0.2")
        .split("[tool.hatch.version]")[0]
    )
    plugin = _repository(tmp_path, old)
    (plugin / "LICENSE").unlink()
    (plugin / "tests").mkdir()
    (plugin / "tests/test_conformance.py").write_text("")
    (plugin / "README.md").write_text("# engrammar-acme\n\nA memory for [engrammar](../../core).\n")
    problems = "\n".join(check_dists.pyproject_problems(_acme(plugin), "0.3.1"))
    assert 'replace `version = "..."` with `dynamic = ["version"]`' in problems
    assert '[tool.hatch.version]` holding only `path = "../../core/src/engrammar/__init__.py"`' in problems
    assert '`license-files = ["LICENSE"]`' in problems
    assert "cp LICENSE plugins/acme/" in problems
    assert 'use "engrammar>=0.3,<0.4"' in problems
    assert "plugins/acme/README.md:3: the link (../../core) is relative" in problems
    assert 'add "engrammar[test]" to the `test` extra' in problems


def test_the_installed_check_refuses_an_editable_install_and_reads_extras() -> None:
    check_installed = _load_tool("check_installed")
    problems, _ = check_installed.problems_of("engrammar-dnc")  # this test run uses editable installs
    assert any("editable" in problem for problem in problems)
    from importlib.metadata import distribution

    optional = check_installed.optional_requirements(distribution("engrammar-dnc"))
    assert optional["matplotlib"] == "plots" and optional["hypothesis"] == "test"
    assert "engrammar" not in optional  # a dependency, not an extra
    assert check_installed.problems_of("engrammar-no-such-plugin") == (["engrammar-no-such-plugin: not installed"], [])


def test_code_that_reads_a_file_beside_the_package_is_caught(tmp_path: Path) -> None:
    plugin = _repository(tmp_path)
    (plugin / "src/engrammar_acme/conf/loader.py").write_text(
        "from pathlib import Path\n"
        "INSIDE = Path(__file__).parent.parent / 'conf'\n"  # src/engrammar_acme/conf: shipped
        "OUTSIDE = Path(__file__).resolve().parents[2] / 'examples'\n"  # src/examples: not shipped
        "import os\n"
        "ALSO = os.path.join(os.path.dirname(__file__), '..', '..')\n"
    )
    problems = check_dists.escaping_paths(_acme(plugin))
    assert len(problems) == 2, problems
    assert problems[0].startswith("plugins/acme/src/engrammar_acme/conf/loader.py:3: a path 3 folders up")
    assert problems[1].startswith("plugins/acme/src/engrammar_acme/conf/loader.py:5: a path 3 folders up")
    assert "importlib.resources.files('engrammar_acme')" in problems[0]
