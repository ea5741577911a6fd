"""Specs: strict structuring, errors that name the path, lossless round trips through files."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import ClassVar

import pytest
from engrammar.builtin.ema import EMASpec
from engrammar.builtin.linear import LinearSpec
from engrammar.spec import (
    ComponentSpec,
    Retired,
    RetiredFieldWarning,
    SpecError,
    dump_mapping,
    field,
    ge,
    one_of,
    parse_mapping,
    spec,
    structure,
    unstructure,
)


@spec
class Inner:
    size: int = field(default=2, validator=ge(1))
    mode: str = field(default="a", validator=one_of("a", "b"))


@spec
class Outer(ComponentSpec):
    inner: Inner = field(factory=Inner)
    sizes: list[int] = field(factory=list)
    rate: float = field(default=0.5)
    name: str | None = field(default=None)


def test_structure_fills_defaults_and_builds_nested_specs() -> None:
    value = structure({"inner": {"size": 3}, "sizes": [1, 2], "rate": 1}, Outer)
    assert value == Outer(inner=Inner(size=3), sizes=[1, 2], rate=1.0)
    assert isinstance(value.rate, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inner": {"size": 0}}, "outer.inner.size: must be >= 1, got 0"),
        ({"inner": {"mode": "c"}}, "outer.inner.mode: must be one of 'a', 'b', got 'c'"),
        ({"inner": {"sise": 3}}, "outer.inner.sise: unknown field; did you mean 'size'?"),
        ({"rate": "fast"}, "outer.rate: expected float, got 'fast'"),
        ({"sizes": [1, "x"]}, "outer.sizes[1]: expected int, got 'x'"),
        ({"in_features": 2.5}, "outer.in_features: expected int, got 2.5"),
        ({"in_features": True}, "outer.in_features: expected int, got True"),
        ({"inner": 3}, "outer.inner: expected a mapping of Inner fields, got 3"),
    ],
)
def test_errors_are_one_line_and_name_the_path(data: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        structure(data, Outer, path="outer")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_missing_required_field_is_named() -> None:
    with pytest.raises(SpecError, match=r"^linear\.out_features: missing required field$"):
        structure({"in_features": 3}, LinearSpec, path="linear")


def test_an_int_is_never_truncated_from_a_float_or_parsed_from_text() -> None:
    with pytest.raises(SpecError):
        structure({"out_features": 3.7}, LinearSpec)
    with pytest.raises(SpecError):
        structure({"out_features": "3"}, LinearSpec)


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_round_trip_through_each_file_format_is_lossless(suffix: str) -> None:
    original = Outer(in_features=4, inner=Inner(size=5, mode="b"), sizes=[3, 1], rate=0.25, name="x")
    text = dump_mapping(unstructure(original), suffix)
    assert structure(parse_mapping(text, suffix), Outer) == original


def test_toml_round_trip_keeps_none_defaults() -> None:
    original = EMASpec(in_features=None, init_decay=0.3)
    text = dump_mapping(unstructure(original), ".toml")
    assert structure(parse_mapping(text, ".toml"), EMASpec) == original


def test_parse_errors_are_spec_errors_naming_the_origin() -> None:
    with pytest.raises(SpecError, match=r"^f\.yaml: cannot parse"):
        parse_mapping("a: [1, 2", ".yaml", origin="f.yaml")
    with pytest.raises(SpecError, match="expected a mapping at the top"):
        parse_mapping("[1, 2]", ".json", origin="f.json")
    with pytest.raises(SpecError, match="unknown file type"):
        parse_mapping("", ".ini")


def test_specs_are_frozen() -> None:
    value = EMASpec(in_features=2)
    with pytest.raises(AttributeError):
        value.in_features = 3  # type: ignore[misc]


def test_yaml_reads_exponent_floats_as_yaml_1_2_does() -> None:
    from engrammar.spec import load_yaml

    data = load_yaml("lr: 3e-3\nbig: -2E5\nplain: 1.5\ncount: 2\nname: 1e\nhex: 0x10")
    assert data == {"lr": 0.003, "big": -200000.0, "plain": 1.5, "count": 2, "name": "1e", "hex": 16}
    assert isinstance(data["count"], int)
    assert parse_mapping("rate: 1e-4", ".yaml") == {"rate": 1e-4}


def test_loading_a_folder_or_a_missing_file_names_it(tmp_path) -> None:
    from engrammar.spec import load_mapping

    with pytest.raises(SpecError, match=r"is a folder; name a \.yaml, \.toml or \.json file$"):
        load_mapping(tmp_path)
    with pytest.raises(SpecError, match=r"missing\.yaml: no such file$"):
        load_mapping(tmp_path / "missing.yaml")


def test_optional_rule_admits_none_and_keeps_the_rule_otherwise() -> None:
    from engrammar.spec import optional

    @spec
    class WithOptional:
        gamma: float | None = field(default=1.0, validator=optional(ge(1.0)))

    assert structure({"gamma": None}, WithOptional).gamma is None
    assert structure({"gamma": 2}, WithOptional).gamma == 2.0
    with pytest.raises(SpecError, match=r"^gamma: must be None or >= 1\.0, got 0\.5$"):
        structure({"gamma": 0.5}, WithOptional)


@spec
class Renewed(ComponentSpec):
    """A spec that dropped its ``trace`` switch."""

    retired_fields: ClassVar[Mapping[str, Retired]] = {"trace": Retired("traces are recorded elsewhere", inert=False)}

    size: int = field(default=1, validator=ge(1))


def test_a_retired_field_still_loads_and_warns_only_when_it_asked_for_something() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old default asks for nothing: no warning
        assert structure({"size": 2, "trace": False}, Renewed) == Renewed(size=2)
    with pytest.warns(RetiredFieldWarning, match=r"^node\.trace: retired field, True ignored: traces are recorded"):
        assert structure({"trace": True}, Renewed, path="node") == Renewed()
    assert "trace" not in unstructure(Renewed())
    with pytest.raises(SpecError, match=r"^trac: unknown field \(fields: in_features, size\)$"):
        structure({"trac": True}, Renewed)  # a retired name is neither a field nor a suggestion
