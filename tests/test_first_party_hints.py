"""Install hints name only distributions of this repository: the table in
``engrammar.first_party`` equals the entry points that ``plugins/*/pyproject.toml`` declare."""

from __future__ import annotations

import sys
from pathlib import Path

import engrammar
import pytest
from engrammar import registry
from engrammar.first_party import PROVIDERS
from engrammar.registry import KINDS, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
COMPONENT_GROUPS = tuple(f"engrammar.{kind}" for kind in KINDS)


def declared() -> dict[str, set[str]]:
    """distribution -> names of its entry points in the component groups, from every plugin's pyproject."""
    found: dict[str, set[str]] = {}
    for pyproject in sorted(PLUGINS.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        groups = project.get("entry-points", {})
        found[project["name"]] = {name for group in COMPONENT_GROUPS for name in groups.get(group, {})}
    return found


def test_every_hint_names_an_entry_point_of_a_distribution_in_this_repository() -> None:
    plugins = declared()
    assert plugins, "no plugins/*/pyproject.toml found"
    for distribution, names in PROVIDERS.items():
        assert distribution in plugins, f"{distribution} is hinted but no plugins/*/pyproject.toml is named so"
        stray = sorted(set(names) - plugins[distribution])
        assert not stray, f"hinted as provided by {distribution}, which declares no entry point for: {stray}"


def test_every_first_party_entry_point_has_its_hint() -> None:
    """A new plugin adds its distribution and names to engrammar/first_party.py (one line)."""
    for distribution, names in declared().items():
        missing = sorted(names - set(PROVIDERS.get(distribution, ())))
        assert not missing, f"add {missing} under {distribution!r} in core/src/engrammar/first_party.py"


def test_a_hint_per_name_is_unique() -> None:
    seen: dict[str, str] = {}
    for distribution, names in PROVIDERS.items():
        for name in names:
            assert name not in seen, f"{name!r} is hinted for both {seen[name]} and {distribution}"
            seen[name] = distribution


@pytest.mark.parametrize("distribution", sorted(PROVIDERS))
def test_a_name_of_a_plugin_not_installed_gets_the_command_that_installs_it(distribution, monkeypatch) -> None:
    """As seen from an environment without the plugin (its entry points hidden from the registry)."""
    everything = registry._entry_point_infos()
    without = tuple(info for info in everything if registry.normalize(info.distribution) != distribution)
    monkeypatch.setattr(registry, "_entry_point_infos", lambda: without)
    name = PROVIDERS[distribution][0]
    with pytest.raises(UnknownNameError) as caught:
        engrammar.build(name)
    assert (
        str(caught.value)
        == f"no component named {name!r}; {name!r} is provided by {distribution}: pip install {distribution}"
    )


def test_names_no_plugin_here_provides_get_no_install_command() -> None:
    """``titans`` and others were once hinted for distributions that did not exist."""
    provided = set().union(*declared().values())
    once_hinted = ["titans", "kv_attention", "episodic", "pulse", "token_router", "ghost_gradients", "sine"]
    for name in ["quantum_memory", *(name for name in once_hinted if name not in provided)]:
        with pytest.raises(UnknownNameError) as caught:
            engrammar.build(name)
        assert "pip install" not in str(caught.value), str(caught.value)
