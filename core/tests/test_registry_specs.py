"""Building from a spec object: the registry records the name a class was loaded or registered by,
and finds a class it has not loaded through the entry points of the spec's own distribution only.
Errors name the component by its registry name."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import engrammar
import pytest
import torch
from engrammar import registry
from engrammar.builtin.ema import EMA, EMASpec
from engrammar.registry import AmbiguousNameError, UnknownNameError
from engrammar.spec import ComponentSpec, SpecError, field, ge, spec

ACME_SPEC = """\
from engrammar.spec import ComponentSpec, field, ge, spec

@spec
class AcmeSpec(ComponentSpec):
    width: int = field(default=2, validator=ge(1), doc="output width")

@spec
class OrphanSpec(ComponentSpec):  # no component of acme's that imports is built from it
    pass
"""

ACME_MEMORY = """\
from engrammar import Component
from .spec import AcmeSpec

class AcmeMemory(Component):
    \"\"\"Projects nothing: zeros of the spec's width.\"\"\"

    spec_cls = AcmeSpec

    @property
    def out_features(self):
        return self.spec.width

    def _step(self, x_t, state):
        return x_t.new_zeros(x_t.shape[0], self.spec.width), state
"""


def _distribution(root, name: str, package: str, entry_points: str, files: dict[str, str]) -> None:
    folder = root / package
    folder.mkdir()
    for file, text in {"__init__.py": "", **files}.items():
        (folder / file).write_text(text)
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def acme(tmp_path):
    """Two distributions on sys.path: acme-memories (its spec in its own module, a sibling entry
    point that cannot be imported) and zeta-memories, whose module fails on import: building from
    acme's spec must not touch it."""
    _distribution(
        tmp_path,
        "acme-memories",
        "acme_specs",
        """\
        [engrammar.memories]
        acme_memory = acme_specs.memory:AcmeMemory
        acme_broken = acme_specs.broken:Nothing
        """,
        {"spec.py": ACME_SPEC, "memory.py": ACME_MEMORY, "broken.py": "raise ImportError('acme_broken is broken')\n"},
    )
    _distribution(
        tmp_path,
        "zeta-memories",
        "zeta_memories",
        """\
        [engrammar.memories]
        zeta = zeta_memories.zeta:Zeta
        """,
        {"zeta.py": "raise RuntimeError('zeta must not be imported')\n"},
    )
    sys.path.insert(0, str(tmp_path))
    registry.refresh()
    yield
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith(("acme_specs", "zeta_memories"))]:
        del sys.modules[name]
    registry.refresh()


def test_spec_of_a_plugin_not_loaded_yet_is_found_through_its_own_distribution_only(acme) -> None:
    from acme_specs.spec import AcmeSpec

    built = engrammar.build(AcmeSpec(in_features=3, width=5))
    assert type(built).__name__ == "AcmeMemory" and built.out_features == 5
    assert "zeta_memories.zeta" not in sys.modules
    assert registry.registered_as(type(built)) == registry.resolve("acme_memory")
    assert engrammar.build(AcmeSpec(in_features=3), width=4).spec.width == 4  # overrides on a spec
    with pytest.raises(SpecError, match=r"^acme_memory\.width: must be >= 1, got 0$"):
        engrammar.build(AcmeSpec(in_features=3), width=0)


def test_spec_whose_component_is_not_found_names_the_siblings_that_failed_to_import(acme) -> None:
    from acme_specs.spec import OrphanSpec

    with pytest.raises(UnknownNameError, match=r"built from acme_specs\.spec\.OrphanSpec \(component 'acme_broken'.*"):
        engrammar.build(OrphanSpec(in_features=3))
    assert "zeta_memories.zeta" not in sys.modules


def test_spec_of_a_core_component_in_a_fresh_process() -> None:
    code = (
        "import engrammar, sys\n"
        "from engrammar.builtin.ema import EMASpec\n"
        "built = engrammar.build(EMASpec(in_features=3, init_decay=0.5))\n"
        "print(type(built).__name__, built.spec.init_decay)\n"
        "print(sorted(m for m in sys.modules if m.startswith('engrammar_')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["EMA 0.5", "[]"]  # and no plugin imported


def test_spec_of_a_runtime_registered_component() -> None:
    @spec
    class GainSpec(ComponentSpec):
        gain: float = field(default=2.0, doc="factor")

    class Gain(engrammar.Component):
        spec_cls = GainSpec

        @property
        def out_features(self) -> int:
            return self.in_features

        def _step(self, x_t, state):
            return x_t * self.spec.gain, state

    engrammar.register("layers", "gain_for_test")(Gain)
    try:
        built = engrammar.build(GainSpec(in_features=2, gain=3.0))
        assert type(built) is Gain
        assert torch.equal(built(torch.ones(1, 1, 2))[0], torch.full((1, 1, 2), 3.0))
        assert registry.registered_as(Gain).name == "gain_for_test"
    finally:
        engrammar.unregister("gain_for_test")
    assert registry.registered_as(Gain) is None
    with pytest.raises(UnknownNameError, match=r"no registered component is built from .*GainSpec"):
        engrammar.build(GainSpec(in_features=2))


def test_the_class_that_declares_a_spec_wins_over_subclasses_that_inherit_it() -> None:
    @engrammar.register("memories", "twin_ema_for_test")
    class TwinEMA(EMA):
        """Inherits EMASpec without declaring it."""

    try:
        assert type(engrammar.build(EMASpec(in_features=2))) is EMA
    finally:
        engrammar.unregister("twin_ema_for_test")


def test_two_classes_declaring_one_spec_must_be_built_by_name() -> None:
    @spec
    class SharedSpec(ComponentSpec):
        size: int = field(default=1, validator=ge(1), doc="size")

    first = type("First", (EMA,), {"spec_cls": SharedSpec})
    second = type("Second", (EMA,), {"spec_cls": SharedSpec})
    engrammar.register("layers", "first_for_test")(first)
    engrammar.register("layers", "second_for_test")(second)
    try:
        with pytest.raises(
            AmbiguousNameError, match=r"\('first_for_test', 'second_for_test'\); build one of them by name$"
        ):
            engrammar.build(SharedSpec(in_features=2))
    finally:
        engrammar.unregister("first_for_test")
        engrammar.unregister("second_for_test")


def test_a_missing_in_features_names_the_registry_name() -> None:
    @engrammar.register("memories", "probe_leaky")
    class ProbeLeaky(EMA):
        """A run-time registered memory."""

    try:
        with pytest.raises(SpecError) as caught:
            engrammar.build("probe_leaky")
        assert caught.value.path == "probe_leaky.in_features"
        assert str(caught.value).startswith("probe_leaky.in_features: must be set")
    finally:
        engrammar.unregister("probe_leaky")
    with pytest.raises(SpecError, match=r"^ema\.in_features: must be set"):
        engrammar.build("ema")
    with pytest.raises(SpecError, match=r"^ema\.in_features: must be set"):
        engrammar.build(EMASpec())


def test_a_graph_spec_builds_its_wiring() -> None:
    from engrammar.wiring import GraphSpec

    graph_spec = GraphSpec.from_data({"in_features": 2, "nodes": {"m": {"use": "ema", "in": "x"}}, "out": "m"})
    assert engrammar.build(graph_spec).out_features == 2
