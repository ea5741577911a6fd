"""Library errors and warnings name what is wrong in the library's terms (a field, a path, a key),
never a command-line flag: the same code runs from Python, where no flag exists. Only the command
layer (``engrammar/cli`` and ``*_cmd.py`` modules) may speak of ``--flags``."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: the trainer moves out of core into its own distribution, where this test scans it again
#: (plugins/*/src); until then its modules are left to that move
MOVING_OUT = ROOT / "core" / "src" / "engrammar" / "training"


def library_modules() -> list[Path]:
    sources = [ROOT / "core" / "src", *sorted(ROOT.glob("plugins/*/src"))]
    modules = []
    for source in sources:
        for path in sorted(source.rglob("*.py")):
            command_layer = "cli" in path.relative_to(source).parts or path.name.endswith("_cmd.py")
            if not command_layer and MOVING_OUT not in path.parents:
                modules.append(path)
    return modules


def messages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Text of every string in a ``raise`` or in a ``warnings.warn(...)`` call, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            found: ast.AST = node.exc
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "warn"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "warnings"
        ):
            found = node
        else:
            continue
        for part in ast.walk(found):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield part.lineno, part.value


def test_the_scan_finds_flags_in_raised_messages_and_warnings() -> None:
    code = (
        "import warnings\n"
        "raise SpecError('--resume', 'x')\n"
        "raise ValueError(f'choose another --out than {x}')\n"
        "warnings.warn('pass --in-features')\n"
        "parser.add_argument('--seed')\n"
        "raise ValueError('a - b, x--y, in_features')\n"
    )
    flagged = [(line, FLAG.findall(text)) for line, text in messages(ast.parse(code)) if FLAG.search(text)]
    assert flagged == [(2, ["--resume"]), (3, ["--out"]), (4, ["--in-features"])]


def test_library_messages_name_no_command_line_flag() -> None:
    modules = library_modules()
    assert any(path.name == "registry.py" for path in modules) and any("plugins" in path.parts for path in modules)
    offenders = []
    for path in modules:
        for line, text in messages(ast.parse(path.read_text(encoding="utf-8"))):
            if FLAG.search(text):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert not offenders, "library messages that name command-line flags:\n" + "\n".join(offenders)
