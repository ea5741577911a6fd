"""The ``prune_states`` trick: by registry name in a training run of engrammar-train, logged,
resumed exactly, and the round itself on a model by hand."""

from __future__ import annotations

from pathlib import Path

import engrammar
import engrammar_train as et
import pytest
import torch
from engrammar_pulse.prune_states import PruneStates, prune_and_allocate
from engrammar_train import load_checkpoint
from torch import nn

#: a pulse memory with one free slot, whose slots sit near the threshold (σ(0) = 0.5)
MEMORY = {"num_states": 4, "state_dim": 4, "num_heads": 1, "initial_states": 3, "prune_threshold": 0.499}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 5, 3, generator=generator)
    return x, (x[:, :, 0].sum(1) > 0).long()


def fit(trick: str, out: Path | None = None, **options: object) -> et.History:
    torch.manual_seed(0)
    return et.fit(
        "pulse",
        data(),
        loss="cross_entropy",
        steps=8,
        batch_size=16,
        tricks=[trick],
        lr=0.05,
        out=out,
        **options,
        **MEMORY,
    )


def test_the_trick_prunes_and_allocates_during_training_and_resumes_exactly(tmp_path: Path) -> None:
    straight = fit("prune_states:every=3,allocate=1", out=tmp_path / "straight")
    rounds = [record for record in straight.records if record.get("split") == "tricks"]
    assert [record["step"] for record in rounds] == [3, 6]
    assert sum(record["prune_states.pruned"] for record in rounds) >= 1
    assert all(record["prune_states.allocated"] == 1 for record in rounds)
    manager = straight.model.nodes["pulse"].state_manager
    assert manager.get_active_count() == rounds[-1]["prune_states.active"]
    # 4 steps, a checkpoint, 4 more: the same weights, active slots and trick state as 8 straight
    fit("prune_states:every=3,allocate=1", out=tmp_path / "split", until=4)
    resumed = fit("prune_states:every=3,allocate=1", out=tmp_path / "split", resume=True)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "split")
    assert a["tricks"]["prune_states"]["history"] == b["tricks"]["prune_states"]["history"] != []


def test_a_round_by_hand_zeroes_the_moments_of_changed_slots() -> None:
    torch.manual_seed(0)
    model = engrammar.build("pulse", in_features=3, **MEMORY)
    manager = model.state_manager
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(2, 4, 3))[0].sum().backward()
    optimizer.step()
    with torch.no_grad():
        manager.importance_logits.copy_(torch.tensor([2.0, -2.0, 2.0, 0.0]))
    generator = torch.Generator().manual_seed(1)
    assert prune_and_allocate(model, 2, optimizer, generator) == (1, 2, 4)  # slot 1 out; slots 1 and 3 in
    moments = optimizer.state[manager.states]["exp_avg"]
    assert torch.equal(moments[[1, 3]], torch.zeros(2, 4)) and moments[0].abs().sum() > 0
    assert torch.equal(manager.get_importance_scores()[[1, 3]], torch.full((2,), 0.5))


def test_by_name_with_checked_options() -> None:
    trick = engrammar.build("prune_states", every=5, allocate=2)
    assert isinstance(trick, PruneStates) and (trick.spec.every, trick.spec.allocate) == (5, 2)
    with pytest.raises(engrammar.SpecError, match=r"prune_states.every: must be >= 1, got 0"):
        PruneStates(every=0)
    with pytest.raises(engrammar.SpecError, match="the model has no StateManager"):
        prune_and_allocate(nn.Linear(2, 2), 1)
