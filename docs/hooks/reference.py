"""MkDocs hook: one API reference page per package (core and every plugin), generated at build
time from the docstrings, so a new plugin appears in the reference without a page written by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


def packages() -> list[tuple[str, str, str]]:
    """(distribution, import name, one-line description) for core and every plugin."""
    found = []
    for folder in [ROOT / "core", *sorted((ROOT / "plugins").iterdir())]:
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        project = tomllib.loads(pyproject.read_text())["project"]
        for module in sorted(p.name for p in (folder / "src").iterdir() if (p / "__init__.py").is_file()):
            if module.startswith("engrammar"):
                found.append((project["name"], module, project.get("description", "")))
    return found


def on_files(files: Files, config: Any) -> Files:
    rows = []
    for distribution, module, description in packages():
        page = f"reference/{module}.md"
        text = f"# `{module}`\n\n{description} (distribution `{distribution}`).\n\n::: {module}\n"
        files.append(File.generated(config, page, content=text))
        rows.append(f"| [`{module}`]({module}.md) | `{distribution}` | {description} |")
    index = "\n".join(
        [
            "# API reference",
            "",
            "Generated from the docstrings of core and every plugin.",
            "",
            "| package | distribution | what it holds |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )
    files.append(File.generated(config, "reference/index.md", content=index))
    return files
