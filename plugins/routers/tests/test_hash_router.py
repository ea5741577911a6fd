"""hash_router: the balanced id table, argmax ties, round robin by position (chunks, steps, resets)."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar import SpecError
from engrammar_routers.hash_router import balanced_table


@pytest.mark.parametrize(("ids", "experts"), [(8, 3), (10, 5), (3, 4), (17, 2)])
def test_the_table_gives_every_expert_floor_or_ceil_of_the_ids(ids: int, experts: int) -> None:
    table = balanced_table(ids, experts, seed=3)
    counts = torch.bincount(table, minlength=experts)
    assert counts.sum() == ids
    assert set(counts.tolist()) <= {ids // experts, -(-ids // experts)}


def test_the_table_is_fixed_by_its_seed() -> None:
    assert torch.equal(balanced_table(32, 4, seed=5), balanced_table(32, 4, seed=5))
    assert not torch.equal(balanced_table(32, 4, seed=5), balanced_table(32, 4, seed=6))
    router = engrammar.build("hash_router", in_features=32, num_experts=4, seed=5)
    assert torch.equal(router.table, balanced_table(32, 4, seed=5))
    assert "table" not in router.state_dict()  # derived from the spec, never saved


def test_token_key_routes_one_hot_ids_through_the_table() -> None:
    router = engrammar.build("hash_router", in_features=6, num_experts=3, seed=1)
    ids = torch.tensor([[0, 5, 2, 2, 4, 1]])
    weights, state = router(torch.nn.functional.one_hot(ids, 6).float())
    assert state == {}
    expected = torch.nn.functional.one_hot(router.table[ids], 3).float()
    assert torch.equal(weights, expected)
    # a continuous input hashes by its largest feature; equal maxima: the first index
    x = torch.tensor([[[0.1, 0.9, -1.0, 0.9, 0.0, 0.2]]])
    assert torch.equal(router(x)[0][0, 0], torch.nn.functional.one_hot(router.table[1], 3).float())


def test_position_key_is_round_robin_over_each_sequence() -> None:
    router = engrammar.build("hash_router", in_features=2, num_experts=3, key="position")
    x = torch.randn(2, 7, 2)
    weights, state = router(x)
    assert weights.argmax(-1).tolist() == [[0, 1, 2, 0, 1, 2, 0]] * 2
    assert state["position"].tolist() == [7, 7]
    # carried state continues the count; steps agree; a reset starts it again
    more, _ = router(x[:, :2], state)
    assert more.argmax(-1).tolist() == [[1, 2]] * 2
    step, after = router.step(x[:, 0], state)
    assert step.argmax(-1).tolist() == [1, 1] and after["position"].tolist() == [8, 8]
    resets = torch.zeros(2, 7, dtype=torch.bool)
    resets[1, 4] = True
    weights, _ = router(x, None, resets)
    assert weights.argmax(-1).tolist() == [[0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 0, 0, 1, 2]]


def test_weights_follow_the_input_dtype_and_carry_no_gradient() -> None:
    router = engrammar.build("hash_router", in_features=3, num_experts=2)
    x = torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True)
    weights, _ = router(x)
    assert weights.dtype == torch.float64 and not weights.requires_grad
    assert list(router.parameters()) == []


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(SpecError, match=r"^hash_router\.key: must be one of 'token', 'position', got 'layer'$"):
        engrammar.build("hash_router", in_features=2, num_experts=2, key="layer")
