"""The registry: metadata-only listing, lazy loading, qualified names, suggestions, isolation."""

from __future__ import annotations

import subprocess
import sys

import engrammar
import pytest
import torch
from engrammar import first_party, registry
from engrammar.builtin.ema import EMA
from engrammar.registry import (
    AmbiguousNameError,
    ComponentInfo,
    PluginImportError,
    UnknownNameError,
)


def test_core_components_are_listed_with_summaries() -> None:
    infos = {i.name: i for i in engrammar.components()}
    assert infos["ema"].kind == "memories" and infos["linear"].kind == "layers"
    assert infos["ema"].distribution == "engrammar"
    assert infos["ema"].summary.startswith("Per-feature exponential moving average")
    assert [i.name for i in engrammar.components("memories", "em*")] == ["ema"]
    assert engrammar.components("layer", "ema") == []


def test_listing_imports_neither_torch_nor_plugins() -> None:
    code = (
        "import sys, engrammar.cli as c; c.main(['list']);"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('engrammar.builtin')];"
        "print('IMPORTED', bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "IMPORTED []" in out
    assert "ema" in out


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(UnknownNameError, match="unknown kind 'gadgets'"):
        engrammar.components("gadgets")


def test_unknown_names_get_suggestions_and_install_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'ema'\?"):
        engrammar.build("emma", in_features=2)
    monkeypatch.setitem(first_party.PROVIDERS, "engrammar-quantum", ("quantum_memory",))
    with pytest.raises(
        UnknownNameError,
        match="^no component named .quantum_memory.; .quantum_memory. is provided by engrammar-quantum: pip install engrammar-quantum$",
    ):
        engrammar.build("quantum_memory")
    with pytest.raises(
        UnknownNameError,
        match=r"did you mean 'quantum_memory'.*\? 'quantum_memory' is provided by engrammar-quantum: pip install engrammar-quantum$",
    ):
        engrammar.build("quantum_memry")


def test_build_from_name_mapping_and_spec() -> None:
    a = engrammar.build("ema", in_features=3, init_decay=0.5)
    b = engrammar.build({"use": "ema", "in_features": 3, "init_decay": 0.5})
    c = engrammar.build(a.spec)
    d = engrammar.build(a.spec, init_decay=0.25)
    assert a.spec == b.spec == c.spec
    assert d.spec.init_decay == 0.25
    with pytest.raises(engrammar.SpecError, match="^use: missing"):
        engrammar.build({"in_features": 3})


def test_runtime_registration_and_qualified_names(monkeypatch: pytest.MonkeyPatch) -> None:
    @engrammar.register("memories", "twin_ema")
    class TwinEMA(EMA):
        """A run-time registered copy of ema."""

    try:
        assert engrammar.build("twin_ema", in_features=2).__class__ is TwinEMA
        info = registry.resolve("twin_ema")
        assert info.distribution == "runtime" and info.summary == "A run-time registered copy of ema."
        with pytest.raises(ValueError, match="already registered"):
            engrammar.register("memories", "twin_ema")(EMA)
    finally:
        engrammar.unregister("twin_ema")
    with pytest.raises(UnknownNameError):
        registry.resolve("twin_ema")


def test_clashing_names_are_all_listed_and_must_be_qualified(monkeypatch: pytest.MonkeyPatch) -> None:
    clash = ComponentInfo("ema", "memories", "acme-memories", "9.9", "acme_missing.module:EMA")
    original = registry._entry_point_infos()
    monkeypatch.setattr(registry, "_entry_point_infos", lambda: (*original, clash))
    assert [i.distribution for i in engrammar.components(pattern="ema")] == ["acme-memories", "engrammar"]
    with pytest.raises(AmbiguousNameError, match=r"engrammar:ema .*acme-memories:ema"):
        engrammar.build("ema", in_features=2)
    assert isinstance(engrammar.build("engrammar:ema", in_features=2), EMA)
    with pytest.raises(PluginImportError, match="acme-memories 9.9"):
        engrammar.build("acme-memories:ema", in_features=2)


def test_a_broken_plugin_lists_fails_clearly_and_others_still_build(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = ComponentInfo("exploding", "memories", "boom-plugin", "0.1", "json.decoder:DoesNotExist")
    original = registry._entry_point_infos()
    monkeypatch.setattr(registry, "_entry_point_infos", lambda: (*original, broken))
    assert "exploding" in {i.name for i in engrammar.components()}
    with pytest.raises(
        PluginImportError, match=r"'exploding' from distribution boom-plugin 0\.1 failed to import .*AttributeError"
    ):
        engrammar.build("exploding")
    assert engrammar.build("ema", in_features=2)(torch.randn(1, 2, 2))[0].shape == (1, 2, 2)
