"""Fuzzed wiring files and component specs: building either succeeds or fails with the library's
own error, one line naming where the input is wrong; never another exception, a hang or a traceback.

Wiring files are drawn as data (valid and invalid nodes, fields, edges, delays, cycles, nesting,
``extends``, wrong types, huge and negative numbers, unicode names), written as YAML, TOML or JSON,
and sometimes damaged as text (syntax errors). Specs are drawn for every registered component from
its attrs fields. Under the CI profile each test runs a few hundred cases; under
``engrammar-thorough`` (``nox -s reliability-thorough``) 10,000.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import engrammar
import pytest
import yaml
from engrammar.registry import RegistryError
from engrammar.spec import SpecError
from engrammar.testing.profiles import THOROUGH, selected_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

THOROUGH_RUN = selected_profile() == THOROUGH
CASES = 10_000 if THOROUGH_RUN else 150
SECONDS_PER_CASE = 20  # a build that takes longer than this is a hang

FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=not THOROUGH_RUN,
    suppress_health_check=list(HealthCheck),
    database=None,
)

LIBRARY_ERRORS = (SpecError, RegistryError)

# Names a wiring may use: the registered components that build quickly at small sizes, and a few
# that are not registered at all.
USABLE = ["linear", "ema", "lstm", "gru", "mlp", "dnc", "ntm", "gated_delta_rnn", "sliding_window", "kv_attention"]
UNKNOWN = ["lstn", "dnc2", "", "ünïcode", "a.b", "../x"]

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
NAMES = st.one_of(st.sampled_from(["ctrl", "mem", "head", "x", "proj"]), TEXT)
HUGE = st.sampled_from([2**40, 2**63, 10**30, -(2**40), float("inf"), float("nan"), 1e308])
NUMBERS = st.one_of(st.integers(-3, 40), HUGE, st.floats(-2, 2, allow_nan=False))
SCALARS = st.one_of(NUMBERS, TEXT, st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [
        "hidden_size",
        "out_features",
        "memory_size",
        "word_size",
        "num_reads",
        "init_decay",
        "window",
        "num_heads",
        "hiden_size",
        "in_features",
        "reset_on",
        "delay",
        "name",
    ]
)


@st.composite
def edges(draw: Any, nodes: list[str]) -> Any:
    """An ``in:`` value: a node name (maybe delayed, ``mem@-1``), a list of them, or junk."""
    one = st.one_of(
        st.sampled_from([*nodes, "x"]),
        st.builds(lambda n, d: f"{n}@{d}", st.sampled_from([*nodes, "x"]), st.integers(-3, 2)),
        st.builds(lambda n, d: f"{n}@{d}", st.sampled_from(nodes or ["x"]), TEXT),
        TEXT,
    )
    return draw(st.one_of(one, st.lists(one, min_size=0, max_size=3), VALUES))


@st.composite
def node(draw: Any, nodes: list[str], depth: int) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(VALUES)  # not a mapping at all
    spec: dict[str, Any] = {}
    if kind == 9 and depth < 2:  # a nested wiring as a node
        spec["use"] = draw(wiring_data(depth + 1))
    elif draw(st.booleans()) or kind > 2:
        spec["use"] = draw(st.one_of(st.sampled_from(USABLE), st.sampled_from(UNKNOWN), VALUES))
    if draw(st.integers(0, 9)) > 0:
        spec["in"] = draw(edges(nodes))
    for _ in range(draw(st.integers(0, 3))):
        spec[draw(st.one_of(FIELDS, TEXT))] = draw(st.one_of(NUMBERS, VALUES))
    return spec


@st.composite
def wiring_data(draw: Any, depth: int = 0) -> dict[str, Any]:
    names = draw(st.lists(NAMES, min_size=0, max_size=4, unique=True))
    data: dict[str, Any] = {}
    if draw(st.integers(0, 9)) > 0:
        data["in_features"] = draw(st.one_of(st.integers(1, 12), NUMBERS, VALUES))
    if draw(st.booleans()):
        data["name"] = draw(TEXT)
    if draw(st.integers(0, 9)) > 0:
        data["nodes"] = {name: draw(node(names, depth)) for name in names}
    else:
        data["nodes"] = draw(VALUES)
    if draw(st.integers(0, 9)) > 0:
        data["out"] = draw(st.one_of(st.sampled_from(names or ["x"]), TEXT, VALUES))
    for _ in range(draw(st.integers(0, 1))):
        data[draw(TEXT)] = draw(VALUES)  # a key the format does not have
    return data


def damage(text: str, cut: int, junk: str) -> str:
    """Text with a syntax error: cut short, then something inserted where it was cut."""
    cut = cut % (len(text) + 1)
    return text[:cut] + junk + text[cut:]


def dump(data: Any, suffix: str) -> str:
    try:
        if suffix == ".yaml":
            return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        if suffix == ".json":
            return json.dumps(data, allow_nan=True)
        import tomli_w

        return tomli_w.dumps(data)
    except Exception:  # a value the format cannot hold (None in TOML, ...): write it as JSON instead
        return json.dumps(data, default=str)


@st.composite
def wiring_files(draw: Any) -> list[tuple[str, str]]:
    """One to three files (``a``, ``b``, ``c`` with their suffixes); the first is built. Files may
    ``extends:`` each other (cycles included) or a file that does not exist."""
    count = draw(st.integers(1, 3))
    suffixes = [draw(st.sampled_from([".yaml", ".json", ".toml"])) for _ in range(count)]
    names = [f"{'abc'[i]}{suffixes[i]}" for i in range(count)]
    files = []
    for i in range(count):
        data = draw(wiring_data())
        if draw(st.integers(0, 3)) == 0:
            data["extends"] = draw(
                st.one_of(
                    st.sampled_from([*names, "missing.yaml"]), st.lists(st.sampled_from(names), max_size=2), VALUES
                )
            )
        text = dump(data, suffixes[i])
        if draw(st.integers(0, 5)) == 0:
            text = damage(
                text,
                draw(st.integers(0, 10_000)),
                draw(st.sampled_from(["{", "]", ":", "\t", '"', "= =", "!!python/object:os.system", "\x00"])),
            )
        files.append((names[i], text))
    return files


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"build did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_library_error(err: BaseException) -> None:
    """The error is the library's own, and its message is one line that names a place."""
    assert isinstance(err, LIBRARY_ERRORS), f"{type(err).__name__}: {err}"
    message = str(err)
    assert message and "\n" not in message, repr(message)
    if isinstance(err, SpecError):
        assert err.path, f"no path in {message!r}"


@given(files=wiring_files())
@FUZZ
def test_a_fuzzed_wiring_file_builds_or_fails_with_a_library_error(
    tmp_path_factory: Any, files: list[tuple[str, str]]
) -> None:
    folder = tmp_path_factory.mktemp("wiring")
    for name, text in files:
        (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        with time_limit(SECONDS_PER_CASE):
            engrammar.build(folder / files[0][0])
    except BaseException as err:
        check_library_error(err)


def spec_values(field: attrs.Attribute) -> Any:
    """Values for one spec field: small sensible ones of its type, and wrong ones."""
    sensible: Any
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    if "int" in kind:
        sensible = st.integers(1, 8)
    elif "float" in kind:
        sensible = st.floats(0.0, 1.0)
    elif "bool" in kind:
        sensible = st.booleans()
    else:
        sensible = st.nothing()
    return st.one_of(sensible, NUMBERS, TEXT, VALUES)


def registered_components() -> list[str]:
    from engrammar.registry import components

    return sorted({info.name for info in components() if info.kind in ("memories", "controllers", "layers", "routers")})


@pytest.mark.parametrize("name", registered_components())
def test_fuzzed_specs_of_every_component_build_or_fail_with_a_library_error(name: str) -> None:
    from engrammar.registry import load

    spec_cls = getattr(load(name), "spec_cls", None)
    assert spec_cls is not None and attrs.has(spec_cls), f"{name} has no attrs spec"
    fields = attrs.fields(spec_cls)
    names = st.sampled_from([f.name for f in fields] + ["not_a_field"])
    values = {f.name: spec_values(f) for f in fields}

    @st.composite
    def overrides(draw: Any) -> dict[str, Any]:
        chosen = draw(st.lists(names, max_size=4, unique=True))
        return {key: draw(values.get(key, VALUES)) for key in chosen}

    @given(fields=overrides())
    @settings(FUZZ, max_examples=max(10, CASES // 10))
    def check(fields: dict[str, Any]) -> None:
        fields.setdefault("in_features", 4)
        try:
            with time_limit(SECONDS_PER_CASE):
                engrammar.build(name, **fields)
        except BaseException as err:
            check_library_error(err)

    check()


FIXED_CASES = {
    "cycle.yaml": "in_features: 4\nnodes:\n  a: {use: linear, out_features: 4, in: b}\n  b: {use: linear, out_features: 4, in: a}\nout: a\n",
    "python_tag.yaml": "in_features: 4\nnodes:\n  a: !!python/object/apply:os.system ['echo owned']\nout: a\n",
    "overflow.yaml": f"in_features: 4\nnodes:\n  a: {{use: linear, out_features: {10**30}, in: x}}\nout: a\n",
    "negative.toml": 'in_features = -3\nout = "a"\n[nodes.a]\nuse = "linear"\nout_features = 4\nin = "x"\n',
    "unicode.json": json.dumps({"in_features": 4, "nodes": {"ñødé": {"use": "lïnear", "in": "x"}}, "out": "ñødé"}),
    "syntax.yaml": "in_features: 4\nnodes: {a: [\n",
}


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_the_command_line_prints_one_line_and_exits_2(tmp_path: Path, name: str) -> None:
    """``engrammar build`` on bad wiring files: exit status 2, one line on stderr, no traceback."""
    path = tmp_path / name
    path.write_text(FIXED_CASES[name], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "engrammar.cli", "build", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert not (tmp_path / "owned").exists()


@pytest.mark.parametrize("size", [2**40, 2**63, 10**30])
def test_sizes_too_large_to_allocate_are_a_spec_error(size: int) -> None:
    with pytest.raises(SpecError, match=r"^linear: too large to build"):
        engrammar.build("linear", in_features=4, out_features=size)
    with pytest.raises(SpecError, match=r"^nodes\.big: too large to build"):
        engrammar.build(
            {"in_features": 4, "nodes": {"big": {"use": "lstm", "hidden_size": size, "in": "x"}}, "out": "big"}
        )
