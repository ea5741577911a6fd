"""The module snapshot behind the ``no_side_effects`` property: every kind of change is named."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from engrammar.testing.module_snapshot import module_changes, snapshot_module
from torch import nn


class Holder:
    def __init__(self) -> None:
        self.items: list[int] = []


def _module() -> nn.Module:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
    module.register_buffer("count", torch.zeros(()))
    module.options = {"mode": "a"}  # type: ignore[assignment]
    module.holder = Holder()  # type: ignore[assignment]
    module.cache = torch.ones(2)  # type: ignore[assignment]
    module.nan = torch.tensor([float("nan")])  # type: ignore[assignment]
    return module


CHANGES: dict[str, tuple[Callable[[nn.Module], None], str]] = {
    "added": (lambda m: setattr(m, "last", 1), "attribute 'last' added"),
    "removed": (lambda m: delattr(m, "cache"), "attribute 'cache' removed"),
    "plain value": (lambda m: setattr(m[0], "in_features", 5), "attribute '0.in_features' changed from 2 to 5"),
    "dict entry": (lambda m: m.options.update(mode="b"), "attribute 'options' ['mode'] changed from 'a' to 'b'"),
    "object inside": (lambda m: m.holder.items.append(1), "attribute 'holder' ['items'] changed length from 0 to 1"),
    "tensor in place": (lambda m: m.cache.add_(1), "attribute 'cache' changed values"),
    "tensor replaced": (lambda m: setattr(m, "cache", torch.ones(2)), "attribute 'cache' replaced by another tensor"),
    "buffer": (lambda m: m.count.add_(1), "buffer 'count' changed values"),
    "parameter": (lambda m: m[1].weight.data.mul_(2), "parameter '1.weight' changed values"),
    "parameter replaced": (
        lambda m: setattr(m[0], "bias", nn.Parameter(m[0].bias.detach().clone())),
        "parameter '0.bias' replaced by another tensor",
    ),
    "submodule": (lambda m: m.add_module("extra", nn.Identity()), "submodule 'extra' added"),
    "type": (lambda m: setattr(m, "cache", None), "attribute 'cache' changed from a tensor of shape (2,) to None"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_kind_of_change_is_named(change: str) -> None:
    module = _module()
    before = snapshot_module(module)
    apply, expected = CHANGES[change]
    apply(module)
    assert expected in module_changes(before, snapshot_module(module))


def test_a_call_that_changes_nothing_shows_nothing() -> None:
    module = _module()
    before = snapshot_module(module)
    module(torch.randn(4, 2))
    module.train(True)  # unchanged: it was already in training mode
    assert module_changes(before, snapshot_module(module)) == []  # NaN equals NaN here
