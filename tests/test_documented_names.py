"""Every ``engrammar.<name>`` the README and docs/ mention exists, and the state utilities that
docs/protocol.md says are re-exported at the top level are."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import engrammar
import pytest
from engrammar.registry import KINDS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: entry-point groups are written like names (``engrammar.memories``) but are not attributes: the
#: registry's kinds, and every ``engrammar.*`` group an installed distribution declares (commands, loggers)
GROUPS = {*KINDS, *(group.split(".", 1)[1] for group in entry_points().groups if group.startswith("engrammar."))}
REFERENCE = re.compile(r"(?<![\w.])engrammar\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


def references(text: str) -> set[str]:
    return {match.group(1) for match in REFERENCE.finditer(text) if match.group(1).split(".")[0] not in GROUPS}


def lookup(dotted: str) -> Any:
    """``engrammar.<dotted>`` as Python would find it: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(["engrammar", *parts[:cut]]))
        except ModuleNotFoundError:
            continue
        rest = parts[cut:]
        break
    else:
        value, rest = engrammar, parts
    for part in rest:
        value = getattr(value, part)
    return value


def test_the_reference_pattern_finds_names_and_leaves_groups_out() -> None:
    text = "`engrammar.build(...)`, engrammar.spec.field, `engrammar.memories` and my_engrammar.thing."
    assert references(text) == {"build", "spec.field"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_name_exists(document: Path) -> None:
    missing = []
    for dotted in sorted(references(document.read_text(encoding="utf-8"))):
        try:
            lookup(dotted)
        except AttributeError:
            missing.append(f"engrammar.{dotted}")
    assert not missing, f"{document.name} mentions names that do not exist: {missing}"


def test_protocol_and_readme_name_things_at_the_top_level() -> None:
    """The parser sees the top-level names these documents use (the check above is not vacuous)."""
    protocol = references((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8"))
    readme = references((ROOT / "README.md").read_text(encoding="utf-8"))
    assert {"Component", "build", "Stateful"} <= protocol
    assert {"components", "build", "detach_state", "Stateful"} <= readme


def test_state_utilities_said_to_be_re_exported_are_at_the_top_level() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    paragraph = next(p for p in text.split("\n\n") if "re-exported at the top level" in p)
    names = set(re.findall(r"`([a-z_]+)(?:\(|`)", paragraph)) - {"engrammar"}
    assert {"state_shapes", "flatten_state", "unflatten_state", "detach_state"} <= names
    state_module = importlib.import_module("engrammar.state")
    for name in sorted(names):
        assert getattr(engrammar, name) is getattr(state_module, name), name
        assert name in engrammar.__all__, name
