"""Check installed distributions from the inside: run with the interpreter of the environment.

    python check_installed.py engrammar engrammar-dnc ...

For each distribution named: it is installed from a wheel (not editable), its files are in the
environment's site-packages (not in a source tree), every module it ships imports, and every entry
point it declares loads. A module that fails to import because a package is absent is accepted
only when that package is named by one of the distribution's extras (``engrammar-dnc[plots]``
brings matplotlib for ``engrammar_dnc.plots``): anything else is a dependency the distribution
forgot to declare. Standard library only; prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def optional_requirements(dist: metadata.Distribution) -> dict[str, str]:
    """Import-style name of each requirement that only an extra brings -> that extra."""
    optional: dict[str, str] = {}
    required: set[str] = set()
    for requirement in dist.requires or []:
        name = normalize(re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0])
        marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if marker:
            optional.setdefault(name, marker.group(1))
        else:
            required.add(name)
    # a dependency that an extra also names (``engrammar[test]`` beside ``engrammar``) is not optional
    return {name: extra for name, extra in optional.items() if name not in required}


def modules_of(dist: metadata.Distribution) -> list[str]:
    modules = []
    for file in dist.files or []:
        parts = file.parts
        if file.suffix != ".py" or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
            continue
        names = list(parts[:-1]) + ([] if file.stem == "__init__" else [file.stem])
        if names and names[-1] != "__main__":  # running a __main__ module would start its program
            modules.append(".".join(names))
    return sorted(modules)


def problems_of(name: str) -> tuple[list[str], list[str]]:
    """(problems, notes) for the installed distribution ``name``."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return [f"{name}: not installed"], []
    problems: list[str] = []
    notes: list[str] = []
    direct_url = dist.read_text("direct_url.json")
    if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
        problems.append(f"{name}: installed in editable mode, not from its wheel")
    site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    optional = optional_requirements(dist)
    for module in modules_of(dist):
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as err:
            missing = normalize((err.name or "?").split(".")[0])
            if missing in optional:
                notes.append(f"{name}: {module} needs the extra [{optional[missing]}] ({missing})")
            else:
                problems.append(
                    f"{name}: {module} imports {err.name!r}, which no dependency of {name} brings: declare it in [project] dependencies (or in an extra, if only that module needs it)"
                )
            continue
        except Exception as err:
            problems.append(f"{name}: importing {module} fails: {type(err).__name__}: {err}")
            continue
        origin = Path(getattr(loaded, "__file__", "") or "").resolve()
        if not any(root in origin.parents for root in site):
            problems.append(f"{name}: {module} was imported from {origin}, outside the environment's site-packages")
    for entry in dist.entry_points:
        try:
            entry.load()
        except ModuleNotFoundError as err:
            if normalize((err.name or "?").split(".")[0]) not in optional:
                problems.append(f"{name}: entry point {entry.group}:{entry.name} fails: {err}")
        except Exception as err:
            problems.append(f"{name}: entry point {entry.group}:{entry.name} fails: {type(err).__name__}: {err}")
    return problems, notes


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    problems: list[str] = []
    for name in names:
        found, notes = problems_of(name)
        problems += found
        for note in notes:
            print(note)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"installed from wheels, every module imports, every entry point loads: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
