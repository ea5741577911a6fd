"""Untrusted wiring files and specs: nothing in them can import or run code.

YAML is read with a safe loader (no ``!!python`` tags); a component is found by its registry name
only, so a name that looks like a Python path (``os:system``, ``subprocess.Popen``) is an unknown
name, never an import. Checkpoints are covered in test_checkpoint_faults.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import engrammar
import pytest
from engrammar.registry import RegistryError
from engrammar.spec import SpecError

TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:pathlib.Path.touch ['{marker}']",
    "!!python/name:os.system",
    "!!python/module:this",
]


@pytest.mark.parametrize("tag", TAGS)
def test_a_python_tag_in_a_wiring_file_is_refused(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"in_features: 4\nnodes:\n  a: {tag.format(marker=marker)}\nout: a\n")
    with pytest.raises(SpecError) as caught:
        engrammar.build(path)
    assert str(path) in str(caught.value) or "evil.yaml" in str(caught.value)
    assert not marker.exists()
    assert "this" not in sys.modules


@pytest.mark.parametrize("name", ["this:anything", "this", "os:system", "subprocess.Popen", "builtins:eval"])
def test_a_component_name_is_never_imported(name: str) -> None:
    before = set(sys.modules)
    with pytest.raises((RegistryError, SpecError)):
        engrammar.build({"use": name, "in_features": 4})
    with pytest.raises((RegistryError, SpecError)):
        engrammar.build({"in_features": 4, "nodes": {"a": {"use": name, "in": "x"}}, "out": "a"})
    assert "this" not in sys.modules
    assert set(sys.modules) - before <= {m for m in sys.modules if m.startswith(("engrammar", "yaml", "attrs"))}
