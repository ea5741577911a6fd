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
