"""Check the built distributions against their sources before they go to the package index.

    python tools/check_dists.py [DIST_FOLDER]        # default: dist/ (``nox -s dist`` builds it)

For core and every plugin (``plugins/*/pyproject.toml``, found automatically) it checks:

- the pyproject: the one release version (read from core's ``__version__``), the MIT licence file,
  the README, a range of core that admits the current core, a wheel package list whose top-level
  names are the plugin's own (``engrammar_<name>``) or declared in ``[tool.engrammar]``;
- the wheel: name and version, every file under each package's source folder (code, ``py.typed``,
  configuration trees, any data file read at run time) with the same bytes, no top-level name that
  was not declared, the licence, the README as the long description, the entry points of the
  pyproject and the modules they name;
- the sdist: PKG-INFO, pyproject, README, licence, the sources and the tests.

Every problem is one line that names the file and says what to add; the exit status is 1 if there
is any. Standard library only (Python 3.10 needs ``tomli``).
"""

from __future__ import annotations

import ast
import email.parser
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CORE = "engrammar"
#: Where every distribution's version comes from (hatch's regex version source reads it).
VERSION_FILE = "core/src/engrammar/__init__.py"
MIN_HATCHLING = (1, 27)  # project.license-files (PEP 639)
#: Files under a package's source folder that are never shipped (build by-products).
#: A Markdown link or image whose target is a path (no scheme, no anchor alone).
RELATIVE_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)")
NOT_SHIPPED = re.compile(r"(^|/)(__pycache__/|[^/]*\.py[cod]$|\.DS_Store$)")


def normalize(name: str) -> str:
    """A distribution name as the package index compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0])


def release_version(root: Path = ROOT) -> str:
    text = (root / VERSION_FILE).read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, flags=re.MULTILINE)
    if match is None:
        raise ValueError(f'{VERSION_FILE}: no line `__version__ = "X.Y.Z"`')
    return match.group(1)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def admits(specifier: str, version: str) -> bool:
    """Whether a specifier such as ``>=0.1,<0.2`` admits ``version`` (release numbers only)."""
    have = version_tuple(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|~=|<|>)\s*([\w.*]+)", clause)
        if match is None:
            return False
        op, bound = match.groups()
        if op == "~=":
            parts = version_tuple(bound)
            if not (have >= parts and have[: len(parts) - 1] == parts[:-1]):
                return False
            continue
        if bound.endswith(".*"):
            prefix = version_tuple(bound[:-2])
            same = have[: len(prefix)] == prefix
            if (op == "==") != same:
                return False
            continue
        limit = version_tuple(bound)
        width = max(len(limit), len(have))
        a, b = have + (0,) * (width - len(have)), limit + (0,) * (width - len(limit))
        if not {">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b, "<": a < b, ">": a > b}[op]:
            return False
    return True


@dataclass
class Package:
    """One distribution of this repository, as its pyproject declares it."""

    folder: Path
    pyproject: dict
    root: Path = ROOT

    @property
    def where(self) -> str:
        return (self.folder / "pyproject.toml").relative_to(self.root).as_posix()

    @property
    def project(self) -> dict:
        return self.pyproject.get("project", {})

    @property
    def name(self) -> str:
        return self.project.get("name", self.folder.name)

    @property
    def is_core(self) -> bool:
        return normalize(self.name) == CORE

    @property
    def own_module(self) -> str:
        """The import name a distribution ``engrammar-x-y`` ships: ``engrammar_x_y``."""
        return normalize(self.name).replace("-", "_")

    @property
    def extra_top_level(self) -> list[str]:
        return list(self.pyproject.get("tool", {}).get("engrammar", {}).get("extra-top-level", []))

    @property
    def allowed_top_level(self) -> set[str]:
        return {self.own_module, *self.extra_top_level}

    @property
    def wheel_packages(self) -> list[str]:
        """The source folders the wheel ships (``[tool.hatch.build.targets.wheel] packages``)."""
        targets = self.pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
        return list(targets.get("wheel", {}).get("packages", []))

    @property
    def version_path(self) -> str:
        """``[tool.hatch.version] path``: core's ``__version__``, relative to this package's folder."""
        if self.is_core:
            return "src/engrammar/__init__.py"
        return Path(*[".."] * len(self.folder.relative_to(self.root).parts), VERSION_FILE).as_posix()

    def entry_points(self) -> dict[str, dict[str, str]]:
        groups = {group: dict(points) for group, points in self.project.get("entry-points", {}).items()}
        if self.project.get("scripts"):
            groups["console_scripts"] = dict(self.project["scripts"])
        return groups

    def source_files(self) -> dict[str, Path]:
        """Wheel path -> source file, for every file under the wheel's package folders."""
        files: dict[str, Path] = {}
        for package in self.wheel_packages:
            source = self.folder / package
            for path in _listed_files(source):
                relative = path.relative_to(source).as_posix()
                if NOT_SHIPPED.search(relative):
                    continue
                files[f"{source.name}/{relative}"] = path
        return files


def _listed_files(folder: Path) -> list[Path]:
    """Files under ``folder`` that git tracks or would track (not ignored); every file outside git."""
    if not folder.is_dir():
        return []
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=folder,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        return sorted(folder / name for name in out.split("\0") if name and (folder / name).is_file())
    except (OSError, subprocess.CalledProcessError):
        return sorted(p for p in folder.rglob("*") if p.is_file())


def discover(root: Path = ROOT) -> list[Package]:
    """Core, then every folder of ``plugins/`` that holds a pyproject.toml, by folder name."""
    folders = [root / "core", *sorted(p.parent for p in (root / "plugins").glob("*/pyproject.toml"))]
    return [Package(folder, tomllib.loads((folder / "pyproject.toml").read_text()), root) for folder in folders]


# ---- the pyproject ----------------------------------------------------------------------------------


def pyproject_problems(package: Package, version: str) -> list[str]:
    where, project = package.where, package.project
    problems: list[str] = []
    if "version" in project or "version" not in project.get("dynamic", []):
        problems.append(
            f'{where}: the version comes from core: replace `version = "..."` with `dynamic = ["version"]` in [project]'
        )
    hatch_version = package.pyproject.get("tool", {}).get("hatch", {}).get("version", {})
    if hatch_version.get("path") != package.version_path or set(hatch_version) - {"path"}:
        problems.append(f'{where}: add the table `[tool.hatch.version]` holding only `path = "{package.version_path}"`')
    requires = package.pyproject.get("build-system", {}).get("requires", [])
    hatchling = [r for r in requires if requirement_name(r) == "hatchling"]
    floor = re.search(r">=\s*([\d.]+)", hatchling[0]) if hatchling else None
    if not floor or version_tuple(floor.group(1)) < MIN_HATCHLING:
        wanted = ".".join(map(str, MIN_HATCHLING))
        problems.append(f'{where}: [build-system] must have `requires = ["hatchling>={wanted}"]` (license-files)')
    if project.get("license") != "MIT" or project.get("license-files") != ["LICENSE"]:
        problems.append(f'{where}: [project] must have `license = "MIT"` and `license-files = ["LICENSE"]`')
    licence = package.folder / "LICENSE"
    if not licence.is_file() or licence.read_bytes() != (package.root / "LICENSE").read_bytes():
        problems.append(
            f"{licence.relative_to(package.root).as_posix()}: must be a copy of the repository's LICENSE (cp LICENSE {licence.parent.relative_to(package.root).as_posix()}/)"
        )
    readme = package.folder / "README.md"
    if project.get("readme") != "README.md" or not readme.is_file():
        problems.append(f'{where}: add a README.md beside it and `readme = "README.md"` in [project]')
    else:
        for number, line in enumerate(readme.read_text().splitlines(), 1):
            for target in RELATIVE_LINK.findall(line):
                problems.append(
                    f"{readme.relative_to(package.root).as_posix()}:{number}: the link ({target}) is relative to the repository and leads nowhere on the package index: drop the link or give a full address"
                )
    if not package.is_core:
        cores = [r for r in project.get("dependencies", []) if requirement_name(r) == CORE]
        major, minor = version_tuple(version)[:2]
        wanted = (
            f'"engrammar>={major}.{minor},<{major}.{minor + 1}"'
            if major == 0
            else f'"engrammar>={major}.{minor},<{major + 1}"'
        )
        if len(cores) != 1:
            problems.append(f"{where}: [project] dependencies must name core once, as {wanted}")
        else:
            specifier = re.sub(r"^\s*[\w.-]+\s*(\[[^]]*\])?", "", cores[0]).split(";")[0].strip()
            if not admits(specifier, version) or "<" not in specifier:
                problems.append(
                    f"{where}: the core requirement {cores[0]!r} must admit core {version} and cap the next release: use {wanted}"
                )
    test_extra = project.get("optional-dependencies", {}).get("test", [])
    conformance = any((package.folder / "tests").glob("test_conformance*.py"))
    if not package.is_core and conformance and "engrammar[test]" not in (r.replace(" ", "") for r in test_extra):
        problems.append(
            f'{where}: add "engrammar[test]" to the `test` extra in [project.optional-dependencies] (the conformance suite needs pytest, Hypothesis and safetensors)'
        )
    packages = package.wheel_packages
    if not packages:
        problems.append(
            f'{where}: add `[tool.hatch.build.targets.wheel]` with `packages = ["src/{package.own_module}"]`'
        )
    names = {PurePosixPath(p).name for p in packages}
    if packages and package.own_module not in names:
        problems.append(f'{where}: the wheel must ship its own package: add "src/{package.own_module}" to `packages`')
    for name in sorted(names - package.allowed_top_level):
        problems.append(
            f'{where}: the wheel ships the top-level package {name!r}: declare it with `[tool.engrammar]` `extra-top-level = ["{name}"]`'
        )
    for name in sorted(set(package.extra_top_level) - names):
        problems.append(f"{where}: [tool.engrammar] extra-top-level names {name!r}, which `packages` does not ship")
    problems += escaping_paths(package)
    for source in packages:
        if not (package.folder / source / "__init__.py").is_file():
            problems.append(f"{where}: the wheel package {source!r} is not a folder with an __init__.py")
        elif not (package.folder / source / "py.typed").is_file():
            problems.append(f"{(package.folder / source).relative_to(package.root).as_posix()}: add an empty py.typed")
    return problems


def _climb(node: ast.AST) -> int | None:
    """How many folders up from the file ``node`` points when it is a path built from ``__file__``
    (``Path(__file__).parent`` is 1, ``.parents[2]`` is 3, ``os.path.dirname(__file__)`` is 1,
    ``/ ".."`` or a ``".."`` joined adds 1); None for anything else."""
    if isinstance(node, ast.Name):
        return 0 if node.id == "__file__" else None
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _climb(node.value)
        return None if inner is None else inner + 1
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
        inner, index = _climb(node.value.value), node.slice
        if inner is not None and isinstance(index, ast.Constant) and isinstance(index.value, int):
            return inner + index.value + 1
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        inner = _climb(node.left)
        if inner is not None and isinstance(node.right, ast.Constant) and node.right.value == "..":
            return inner + 1
        return None
    if isinstance(node, ast.Call):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name in ("resolve", "absolute") and isinstance(function, ast.Attribute):
            return _climb(function.value)
        if name in ("Path", "PurePath", "abspath", "realpath") and node.args:
            return _climb(node.args[0])
        if name == "dirname" and node.args:
            inner = _climb(node.args[0])
            return None if inner is None else inner + 1
        if name == "join" and node.args:  # os.path.join(dirname(__file__), "..", "..")
            inner, rest = _climb(node.args[0]), node.args[1:]
            ups = [a for a in rest if isinstance(a, ast.Constant) and a.value == ".."]
            return None if inner is None or len(ups) != len(rest) else inner + len(ups)
    return None


def escaping_paths(package: Package) -> list[str]:
    """Places in the package's code that reach a file outside the package through ``__file__``:
    such a file is in the repository but not in the wheel."""
    problems: list[str] = []
    for target, source in sorted(package.source_files().items()):
        if not target.endswith(".py"):
            continue
        allowed = len(PurePosixPath(target).parts) - 1  # up to the top-level package's folder
        try:
            tree = ast.parse(source.read_text(), filename=str(source))
        except SyntaxError:
            continue
        top = target.split("/")[0]
        found: dict[int, int] = {}  # line -> the highest climb on it
        for node in ast.walk(tree):
            level = _climb(node)
            if level is not None and level > allowed:
                line = getattr(node, "lineno", 0)
                found[line] = max(level, found.get(line, 0))
        for line, level in sorted(found.items()):
            problems.append(
                f"{source.relative_to(package.root).as_posix()}:{line}: a path {level} folders up from __file__ leaves the package {top!r}, and the wheel does not carry what it points to: put the file inside {top}/ and read it with importlib.resources.files({top!r})"
            )
    return problems


# ---- the wheel ----------------------------------------------------------------------------------------


def _metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def _entry_points(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            groups.setdefault(group, {})
        elif group is not None and "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            groups[group][name] = value
    return groups


def wheel_problems(package: Package, wheel: Path, version: str) -> list[str]:
    where = wheel.name
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        info = [n for n in names if n.split("/")[0].endswith(".dist-info")]
        if len({n.split("/")[0] for n in info}) != 1:
            return [f"{where}: expected one .dist-info folder, found {sorted({n.split('/')[0] for n in info})}"]
        dist_info = info[0].split("/")[0]
        read = {n: archive.read(n) for n in names}
    metadata = _metadata(read.get(f"{dist_info}/METADATA", b"").decode())
    if normalize(metadata.get("Name", "")) != normalize(package.name) or metadata.get("Version") != version:
        problems.append(
            f"{where}: METADATA says {metadata.get('Name')} {metadata.get('Version')}, expected {package.name} {version}"
        )
    if not (metadata.get_payload() or "").strip() or metadata.get("Description-Content-Type") != "text/markdown":
        problems.append(f"{where}: METADATA has no Markdown long description: README.md is missing or not declared")
    if f"{dist_info}/licenses/LICENSE" not in read:
        problems.append(f"{where}: {dist_info}/licenses/LICENSE is missing (LICENSE beside {package.where})")
    shipped = [n for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))]
    top_level = {n.split("/")[0].removesuffix(".py") for n in shipped if not n.endswith(".pth")}
    for name in sorted(top_level - package.allowed_top_level):
        problems.append(
            f'{where}: installs the top-level name {name!r}, which {package.where} does not declare: remove it from the wheel or add `[tool.engrammar]` `extra-top-level = ["{name}"]`'
        )
    for name in sorted(package.allowed_top_level - top_level):
        problems.append(f"{where}: does not install the package {name!r}")
    for name in sorted(n for n in shipped if n.endswith(".pth")):
        problems.append(f"{where}: ships a path file {name!r} (an editable install's leftover?)")
    for name in sorted(top_level & package.allowed_top_level):
        if f"{name}/py.typed" not in read:
            problems.append(f"{where}: {name}/py.typed is missing (type checkers would ignore the package)")
    for target, source in sorted(package.source_files().items()):
        if target not in read:
            problems.append(
                f"{where}: {target} is missing, though {source.relative_to(package.root).as_posix()} is in the sources: check [tool.hatch.build] exclude / artifacts"
            )
        elif read[target] != source.read_bytes():
            problems.append(
                f"{where}: {target} differs from {source.relative_to(package.root).as_posix()} (stale dist/?)"
            )
    declared = package.entry_points()
    found = _entry_points(read.get(f"{dist_info}/entry_points.txt", b"").decode())
    if declared != found:
        problems.append(f"{where}: entry_points.txt {found} differs from the pyproject's {declared}")
    for group, points in declared.items():
        for name, value in points.items():
            module = value.split(":")[0].strip()
            path = module.replace(".", "/")
            if f"{path}.py" not in read and f"{path}/__init__.py" not in read:
                problems.append(f"{where}: entry point {group}:{name} names the module {module}, which the wheel lacks")
    return problems


# ---- the sdist ----------------------------------------------------------------------------------------


def sdist_problems(package: Package, sdist: Path, version: str) -> list[str]:
    where = sdist.name
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
        prefixes = {m.split("/")[0] for m in members}
        if len(prefixes) != 1:
            return [f"{where}: expected one top folder, found {sorted(prefixes)}"]
        prefix = prefixes.pop()
        pkg_info = archive.extractfile(f"{prefix}/PKG-INFO") if f"{prefix}/PKG-INFO" in members else None
        metadata = _metadata(pkg_info.read().decode()) if pkg_info is not None else None
    inside = {m.removeprefix(prefix + "/") for m in members}
    problems: list[str] = []
    if metadata is None or metadata.get("Version") != version:
        problems.append(f"{where}: PKG-INFO is missing or not at version {version} (a wheel built from it needs it)")
    for required in ("pyproject.toml", "README.md", "LICENSE"):
        if required not in inside:
            problems.append(f"{where}: {required} is missing")
    for source in package.source_files().values():
        relative = source.relative_to(package.folder).as_posix()
        if relative not in inside:
            problems.append(f"{where}: {relative} is missing")
    tests = package.folder / "tests"
    for path in _listed_files(tests):
        relative = path.relative_to(package.folder).as_posix()
        if not NOT_SHIPPED.search(relative) and relative not in inside:
            problems.append(f"{where}: {relative} is missing (the sdist carries the tests)")
    return problems


# ---- the folder ---------------------------------------------------------------------------------------


def built_files(package: Package, dist: Path, version: str) -> tuple[Path | None, Path | None]:
    stem = f"{normalize(package.name).replace('-', '_')}-{version}"
    wheel = dist / f"{stem}-py3-none-any.whl"
    sdist = dist / f"{stem}.tar.gz"
    return (wheel if wheel.is_file() else None, sdist if sdist.is_file() else None)


def problems_in(dist: Path, packages: Iterable[Package], version: str) -> list[str]:
    problems: list[str] = []
    for package in packages:
        problems += pyproject_problems(package, version)
        wheel, sdist = built_files(package, dist, version)
        if wheel is None or sdist is None:
            problems.append(f"{dist}: no wheel and sdist of {package.name} {version} (build them: nox -s dist)")
            continue
        problems += wheel_problems(package, wheel, version)
        problems += sdist_problems(package, sdist, version)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dist = Path(args[0]) if args else ROOT / "dist"
    version = release_version()
    packages = discover()
    problems = problems_in(dist, packages, version)
    for problem in problems:
        print(problem, file=sys.stderr)
    names = ", ".join(p.name for p in packages)
    if problems:
        print(f"{len(problems)} problem(s) in the distributions of {version}", file=sys.stderr)
        return 1
    print(f"{len(packages)} distributions at {version}, wheel and sdist each, checked: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
