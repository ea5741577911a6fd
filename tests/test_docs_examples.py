"""Every Python and shell example in the documentation runs.

Each page (README.md and docs/*.md) is one test. Its fenced ``python`` blocks run in order in one
namespace (a later block may use what an earlier one defined), in a scratch folder that sees the
repository's ``examples/``, ``benchmarks/``, ``plugins/`` and ``docs/``. Where a page shows output
(a ``text`` block right after a Python block, marked ``<!-- output -->``), the printed lines must
match it. An HTML comment ``<!-- test-setup: CODE -->`` before a block runs CODE first, unseen by a
reader: the objects a synopsis names (``component``, ``x``).

Shell examples — fenced ``bash``/``sh``/``console`` blocks and indented blocks of commands — run
command by command: ``engrammar ...`` through the command-line entry point, ``python FILE ...``
and ``python -m MODULE ...`` as scripts, each in a subprocess, and must exit 0 unless the page
shows the failure (a ``# exit 2`` comment on the line). Long training is cut to a small setting
here, the same for every page: ``--steps N`` becomes ``--steps 2``, ``--epochs N`` ``--epochs 1``,
``--seeds K`` ``--seeds 1`` and ``--batch-size N`` ``--batch-size 4``; ``engrammar train`` and an
example script that takes ``--steps``, given neither, run 2 steps. A usage line
(``engrammar train WIRING --task NAME [--steps N]``) is checked against the command's ``--help``:
every option it names must exist. Commands that install
software or run a nox session are checked, not run: ``pip install X`` must name a distribution of
this repository or a published dependency, ``nox -s NAME`` a session of noxfile.py. Benchmark
scripts (``benchmarks/*.py``) print tables over minutes of measurement; ``nox -s bench`` runs them,
and here each must at least import and answer ``--help``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHARED = ("examples", "benchmarks", "plugins", "docs", "core", "tests")

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SETUP = re.compile(r"<!--\s*test-setup:(?P<code>.*?)-->\s*$", re.S)
SHELL_START = ("engrammar ", "python ", "python3 ", "nox ", "pip ")
SMALL = [
    (re.compile(r"--steps[ =]\d+"), "--steps 2"),
    (re.compile(r"--epochs[ =]\d+"), "--epochs 1"),
    (re.compile(r"--seeds[ =]\d+"), "--seeds 1"),
    (re.compile(r"--batch-size[ =]\d+"), "--batch-size 4"),
]


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, body, text just before the block) for fenced blocks and indented command blocks."""
    found: list[tuple[int, str, str, str]] = []
    taken: list[tuple[int, int]] = []
    for match in FENCE.finditer(text):
        body = textwrap.dedent(match["body"])
        found.append((match.start(), match["lang"] or "text", body, text[: match.start()]))
        taken.append((match.start(), match.end()))
    lines = text.splitlines(keepends=True)
    offset = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        inside = any(start <= offset < end for start, end in taken)
        previous_blank = index == 0 or not lines[index - 1].strip()
        if not inside and previous_blank and line.startswith("    ") and line[4:].startswith(SHELL_START):
            start = offset
            body_lines = []
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index].strip()):
                body_lines.append(lines[index][4:] if lines[index].strip() else "\n")
                offset += len(lines[index])
                index += 1
            found.append((start, "shell", "".join(body_lines), text[:start]))
            continue
        offset += len(line)
        index += 1
    return [(lang, body, before) for _, lang, body, before in sorted(found)]


def commands(body: str) -> list[tuple[str, int]]:
    """The command lines of a shell block (continuations joined), each with its expected exit status."""
    joined = re.sub(r"\\\n\s*", " ", body)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line.startswith(SHELL_START) and not line.startswith("CI=") and "&&" not in line:
            continue
        status = 2 if re.search(r"#\s*exit 2\b", line) else 0
        line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
        for part in line.split("&&"):
            found.append((part.strip(), status))
    return found


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if "session" in ast.unparse(decorator):
                    call = decorator if isinstance(decorator, ast.Call) else None
                    named = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
                    names.add(ast.literal_eval(named[0]) if named and isinstance(named[0], ast.Constant) else node.name)
    plugins = [p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()]
    return names | {f"plugin-{name}" for name in plugins}


def distributions() -> set[str]:
    """What a page may tell you to pip install: this repository's distributions, the packages the
    benchmarks compare against (noxfile.py's BENCH_REFERENCES) and the tools the README names."""
    import tomllib

    folders = [ROOT / "core", *(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())]
    names = {tomllib.loads((f / "pyproject.toml").read_text())["project"]["name"] for f in folders}
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "BENCH_REFERENCES" for t in node.targets):
            names |= set(ast.literal_eval(node.value))
    return names | {"nox", "torch", "ruff", "mkdocs-material", "mkdocstrings"}


def installable(argument: str, cwd: Path) -> bool:
    """A distribution named above (extras allowed: ``engrammar-lightning[seam-gated]``), or a folder
    of this repository with a pyproject.toml (``pip install -e plugins/episodic``)."""
    argument = argument.strip("\"'")
    if (cwd / argument / "pyproject.toml").is_file():
        return True
    return re.split(r"[\[<>=!~]", argument, maxsplit=1)[0] in distributions()


def scratch(tmp_path: Path) -> Path:
    for name in SHARED:
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def is_synopsis(argv: list[str]) -> bool:
    """A usage line (``engrammar train WIRING --task NAME [--steps N]``), not an example to run."""
    return any(a.startswith("[") or (a.isupper() and a.isalpha()) or a == "..." for a in argv[1:])


def check_synopsis(argv: list[str], cwd: Path) -> None:
    """Every option a usage line names is one the command accepts (its ``--help`` lists it)."""
    command = [sys.executable, "-m", "engrammar.cli", argv[1], "--help"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    options = set(re.findall(r"--[a-z][\w-]*", " ".join(argv)))
    missing = sorted(o for o in options if o not in done.stdout)
    assert not missing, f"engrammar {argv[1]} has no option {missing}"


def run_shell(command: str, status: int, cwd: Path) -> None:
    for pattern, small in SMALL:
        command = pattern.sub(small, command)
    script = re.match(r"python3? (examples/\S+\.py)", command)
    runs_long = command.startswith("engrammar train") or (
        script is not None and "--steps" in (cwd / script[1]).read_text(encoding="utf-8")
    )
    if runs_long and not re.search(r"--(steps|epochs)\b", command):
        command += " --steps 2"  # their defaults train for minutes
    argv = shlex.split(command)
    program = argv[0]
    if (program in ("pip", "python3", "python") and argv[1:3] == ["-m", "pip"]) or program == "pip":
        wanted = [a for a in argv[argv.index("install") + 1 :] if not a.startswith("-")]
        unknown = [a for a in wanted if not installable(a, cwd)]
        assert not unknown, f"{command}: not a distribution of this repository: {unknown}"
        return
    if program == "nox" or argv[1:3] == ["-m", "nox"]:
        sessions = argv[argv.index("-s") + 1 :] if "-s" in argv else []
        unknown = [s for s in sessions[:1] if s not in nox_sessions()]
        assert not unknown, f"{command}: no nox session {unknown}"
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    if program == "engrammar" and is_synopsis(argv):
        check_synopsis(argv, cwd)
        return
    if program == "engrammar":
        argv = [sys.executable, "-m", "engrammar.cli", *argv[1:]]
    elif program in ("python", "python3"):
        argv = [sys.executable, *argv[1:]]
        if len(argv) > 1 and argv[1].startswith("benchmarks/"):
            argv = [*argv[:2], "--help"]
    else:  # pragma: no cover - commands() returns nothing else
        raise AssertionError(command)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == status, (
        f"{command} -> exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )


def run_python(code: str, namespace: dict, cwd: Path) -> str:
    printed = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "<docs>", "exec"), namespace)
    finally:
        os.chdir(previous)
    return printed.getvalue()


#: The pages whose examples have been made to run as written. Every other page is reported as
#: skipped, by name, until its synopses build what they use and its placeholders (``--seed S``)
#: are real values; then it joins this list. ``ENGRAMMAR_DOCS_ALL=1`` runs every page.
RUNNABLE = {
    "index.md", "conformance.md", "reliability.md", "controllers.md", "tricks.md", "benchmarks.md",
    "attention.md", "ntm.md", "tasks.md", "dnc.md", "lightning.md", "realnet.md", "leaderboard.md",
    "routers.md", "episodic.md", "titans.md", "audit.md", "gated_delta.md", "pulse.md",
}  # fmt: skip


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_example_on_the_page_runs(page: Path, tmp_path: Path) -> None:
    if page.name not in RUNNABLE and not os.environ.get("ENGRAMMAR_DOCS_ALL"):
        pytest.skip(f"{page.name}: its examples are not all runnable as written yet")
    cwd = scratch(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    text = page.read_text(encoding="utf-8")
    found = blocks(text)
    for position, (lang, body, before) in enumerate(found):
        tail = before.rstrip()
        setup = SETUP.search(tail[tail.rfind("<!--") :] + "\n") if tail.endswith("-->") else None
        if lang == "python":
            if setup:
                run_python(textwrap.dedent(setup["code"]), namespace, cwd)
            output = run_python(body, namespace, cwd)
            ran += 1
            following = found[position + 1] if position + 1 < len(found) else None
            if following and following[0] == "text" and following[2].rstrip().endswith("<!-- output -->"):
                assert output.strip() == following[1].strip(), f"{page.name}: printed\n{output}"
        elif lang in ("bash", "sh", "shell", "console"):
            for command, status in commands(body):
                run_shell(command, status, cwd)
                ran += 1
    has_examples = "```python" in text or re.search(r"^    (engrammar|python3?|nox|pip) ", text, re.M)
    assert ran or not has_examples, f"{page.name}: examples found but none ran"


def test_every_page_is_in_the_site() -> None:
    """A page left out of mkdocs.yml's nav would be built but unreachable from the menus."""
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", ""))["nav"]

    def pages(entry: object) -> list[str]:
        if isinstance(entry, str):
            return [entry]
        if isinstance(entry, dict):
            return [p for value in entry.values() for p in pages(value)]
        if isinstance(entry, list):
            return [p for item in entry for p in pages(item)]
        return []

    listed = set(pages(nav))
    missing = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name not in listed)
    assert not missing, f"add these pages to the nav of mkdocs.yml: {missing}"
