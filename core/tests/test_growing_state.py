"""The growing-state case of the protocol: a cache that gains one slot per step (optionally capped)
is declared with a named run-time dimension, ``StateEntry(("slots", width), max_length=..., count=...)``, passes the whole conformance
suite with no property skipped, resets one sample while the others keep their cache, and a
component that grows without declaring it, ignores its cap, or reads its padding is caught."""

from __future__ import annotations

import pytest
import torch
from engrammar.component import Component, Stateful
from engrammar.spec import ComponentSpec, field, ge, spec
from engrammar.state import StateEntry, declared_nbytes, grow_like, state_nbytes, trim_state
from engrammar.testing import Case, ConformanceError, check_property, conformance_tests


@spec
class HistorySpec(ComponentSpec):
    max_length: int | None = field(default=None, validator=ge(1), doc="slots kept at most")


class History(Component):
    """Keeps every input since the last reset (the newest ``max_length``); outputs their mean."""

    spec_cls = HistorySpec

    @property
    def out_features(self) -> int:
        return self.in_features

    def state_spec(self) -> dict:
        return {
            "inputs": StateEntry(("slots", self.in_features), max_length=self.spec.max_length, count="seen"),
            "seen": StateEntry((), dtype="int64"),
        }

    def _keep(self, inputs: torch.Tensor) -> torch.Tensor:
        cap = self.spec.max_length
        return inputs if cap is None else inputs[:, -cap:]

    def _read(self, inputs: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        length = inputs.shape[1]
        used = seen.clamp(max=length)
        own = torch.arange(length) >= (length - used)[:, None]  # (B, S): the newest `used` slots
        return (inputs * own[..., None]).sum(1) / used[:, None]

    def _step(self, x_t: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        inputs = self._keep(torch.cat([state["inputs"], x_t[:, None]], dim=1))
        seen = state["seen"] + 1
        return self._read(inputs, seen), {"inputs": inputs, "seen": seen}


class ReadsPadding(History):
    """Averages every slot, padding included: wrong as soon as one sample has reset."""

    def _read(self, inputs: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        return inputs.mean(1)


class IgnoresCap(History):
    """Declares a cap and keeps growing past it."""

    def _keep(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs


class Undeclared(History):
    """Grows without saying so."""

    def state_spec(self) -> dict:
        return {"inputs": StateEntry((0, self.in_features)), "seen": StateEntry((), dtype="int64")}


TestHistory = conformance_tests(History, specs=[{}])
TestHistoryCapped = conformance_tests(History, specs=[{"max_length": 2}])

CASE = Case(batch_size=3, length=6, seed=1)


@pytest.mark.parametrize(
    ("broken", "fields", "prop"),
    [
        (Undeclared, {}, "state_declared"),
        (IgnoresCap, {"max_length": 2}, "state_declared"),
        (ReadsPadding, {}, "resets"),
    ],
)
def test_broken_growing_components_are_caught(broken, fields, prop) -> None:
    with pytest.raises(ConformanceError, match=rf"^\[{prop}\]"):
        check_property(prop, broken, {"in_features": 2, **fields}, CASE)
    check_property(prop, History, {"in_features": 2, **fields}, CASE)


def test_a_missing_count_entry_is_named() -> None:
    class NoCount(History):
        def state_spec(self) -> dict:
            return {"inputs": StateEntry(("slots", self.in_features), count="seen")}

    with pytest.raises(ConformanceError, match=r"^\[state_declared\].*inputs grows, but its count seen"):
        check_property("state_declared", NoCount, {"in_features": 2}, CASE)


def test_one_sample_resets_while_the_others_keep_their_cache() -> None:
    history = History(in_features=1)
    x = torch.arange(1.0, 7.0).reshape(1, 6, 1).expand(2, 6, 1)
    wrapper = Stateful(history)
    wrapper.init_state(batch_size=2)
    wrapper(x[:, :4])
    wrapper.reset_state(torch.tensor([True, False]))
    assert wrapper.state["inputs"].shape == (2, 4, 1)  # the cache keeps its length
    assert wrapper.state["seen"].tolist() == [0, 4] and wrapper.state["inputs"][0].abs().sum() == 0
    y = wrapper(x[:, 4:])
    assert y[:, :, 0].tolist() == [[5.0, 5.5], [3.0, 3.5]]  # means of (5), (5, 6) and (1..5), (1..6)


def test_entry_describes_its_shape_after_any_number_of_steps() -> None:
    capped = StateEntry((4, "cache", 16), max_length=8, count="position")
    assert capped.grows == 1 and capped.initial_shape == (4, 0, 16)
    assert capped.shape_after(5) == (4, 5, 16) and capped.shape_after(100) == (4, 8, 16)
    assert StateEntry(("cache",), count="n").shape_after(100) == (100,)
    fixed = StateEntry((4, 16))
    assert fixed.grows is None and fixed.shape_after(100) == (4, 16)
    spec_ = {"keys": capped, "position": StateEntry((), dtype="int64")}
    assert declared_nbytes(spec_) == 8
    assert declared_nbytes(spec_, steps=3) == 4 * 3 * 16 * 4 + 8
    assert declared_nbytes(spec_, dtype=torch.float64, steps=100) == 4 * 8 * 16 * 8 + 8


@pytest.mark.parametrize(
    ("shape", "fields", "message"),
    [
        (("a", "b"), {"count": "n"}, "one run-time dimension per entry"),
        (("cache", 5), {}, "count"),
        ((2, 5), {"max_length": 3}, "name one in shape"),
        ((2, 5), {"count": "n"}, "name one in shape"),
        (("cache", 5), {"count": "n", "max_length": 0}, "max_length: must be >= 1"),
    ],
)
def test_entry_rejects_an_inconsistent_declaration(shape, fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        StateEntry(shape, **fields)


def test_grow_like_pads_in_front_and_trim_compares_by_meaning() -> None:
    spec_ = {"cache": StateEntry(("slots",), count="n"), "n": StateEntry((), dtype="int64")}
    grown = {"cache": torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), "n": torch.tensor([3, 1])}
    initial = {"cache": torch.zeros(2, 0), "n": torch.zeros(2, dtype=torch.long)}
    padded = grow_like(spec_, initial, grown)
    assert padded["cache"].shape == (2, 3) and padded["n"] is initial["n"]
    trimmed = trim_state(spec_, grown)
    assert trimmed["cache"].tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]]  # sample 1 holds one slot
    # the same meaning, stored with more padding, trims to the same tensors
    longer = {"cache": torch.tensor([[9.0, 1.0, 2.0, 3.0], [7.0, 7.0, 7.0, 6.0]]), "n": torch.tensor([3, 1])}
    assert torch.equal(trim_state(spec_, longer)["cache"], trimmed["cache"])
    assert state_nbytes(longer) == 2 * 4 * 4 + 2 * 8  # the real bytes, padding included


def test_build_and_describe_report_a_growing_cache(tmp_path, capsys) -> None:
    import engrammar
    from engrammar.cli import main

    engrammar.unregister("history_for_tests")
    engrammar.register("memories", "history_for_tests")(History)
    try:
        path = tmp_path / "history.yaml"
        path.write_text(
            "name: h\nin_features: 2\nnodes:\n  mem: {use: history_for_tests, in: x}\n"
            "  head: {use: linear, out_features: 1, in: mem}\nout: head\n"
        )
        assert main(["build", str(path)]) == 0
        out = capsys.readouterr().out
        mem_row = next(line for line in out.splitlines() if line.startswith("│ mem "))
        assert mem_row.rstrip("│ ").endswith("8 + 8/step")  # the int64 count; 2 floats per step
        assert main(["describe", "history_for_tests", "--in-features", "2", "--set", "max_length=5"]) == 0
        assert "('B', 'slots<=5', 2)" in capsys.readouterr().out
    finally:
        engrammar.unregister("history_for_tests")
