"""State utilities work on any nested state."""

from __future__ import annotations

import torch
from engrammar.state import (
    StateEntry,
    clone_state,
    detach_state,
    flatten_state,
    map_state,
    reset_where,
    scatter_batch,
    select_batch,
    state_nbytes,
    state_shapes,
    unflatten_state,
    zeros_like_spec,
)


def nested() -> dict:
    return {
        "a": torch.arange(6.0).reshape(3, 2),
        "inner": {"b": torch.arange(3.0 * 4).reshape(3, 4), "count": torch.tensor([1, 2, 3])},
    }


def test_map_and_shapes_keep_structure() -> None:
    doubled = map_state(lambda t: t * 2, nested())
    assert torch.equal(doubled["inner"]["b"], nested()["inner"]["b"] * 2)
    assert state_shapes(nested()) == {"a": (3, 2), "inner": {"b": (3, 4), "count": (3,)}}


def test_detach_cuts_history_and_clone_copies() -> None:
    source = torch.ones(2, 3, requires_grad=True)
    state = {"m": source * 2}
    detached = detach_state(state)
    assert not detached["m"].requires_grad and torch.equal(detached["m"], state["m"])
    cloned = clone_state(state)
    assert cloned["m"].requires_grad
    cloned["m"].data.zero_()
    assert state["m"].sum() == 12


def test_select_and_scatter_by_batch_index() -> None:
    state = nested()
    picked = select_batch(state, [2, 0])
    assert torch.equal(picked["a"], state["a"][[2, 0]])
    assert torch.equal(picked["inner"]["count"], torch.tensor([3, 1]))
    replaced = scatter_batch(state, [1], select_batch(map_state(torch.zeros_like, state), [0]))
    assert torch.equal(replaced["a"][1], torch.zeros(2))
    assert torch.equal(replaced["a"][0], state["a"][0])
    assert torch.equal(state["a"][1], torch.tensor([2.0, 3.0]))  # the original is untouched


def test_reset_where_only_touches_masked_samples() -> None:
    state = nested()
    initial = map_state(lambda t: torch.full_like(t, -1), state)
    out = reset_where(state, torch.tensor([False, True, False]), initial)
    assert torch.equal(out["inner"]["b"][1], torch.full((4,), -1.0))
    assert torch.equal(out["inner"]["b"][0], state["inner"]["b"][0])
    assert out["inner"]["count"].tolist() == [1, -1, 3]


def test_nbytes_and_flatten_round_trip() -> None:
    state = nested()
    assert state_nbytes(state) == 6 * 4 + 12 * 4 + 3 * 8
    flat = flatten_state(state)
    assert set(flat) == {"a", "inner.b", "inner.count"}
    again = unflatten_state(flat)
    assert state_shapes(again) == state_shapes(state)


def test_zeros_like_spec_resolves_dtypes() -> None:
    spec = {"m": StateEntry((2, 3)), "inner": {"n": StateEntry((4,), dtype="int64")}}
    zeros = zeros_like_spec(spec, 5, device="cpu", dtype=torch.float64)
    assert zeros["m"].shape == (5, 2, 3) and zeros["m"].dtype == torch.float64
    assert zeros["inner"]["n"].dtype == torch.int64


def test_boundaries_are_type_checked() -> None:
    import pytest

    state = {"m": torch.zeros(3, 2)}
    with pytest.raises(Exception, match="mask"):
        reset_where(state, torch.zeros(3), state)  # a float mask is refused
    with pytest.raises(Exception, match="mask"):
        reset_where(state, torch.zeros(3, 1, dtype=torch.bool), state)  # so is a mask of the wrong rank
    with pytest.raises(Exception, match="index"):
        select_batch(state, "0")  # type: ignore[arg-type]
