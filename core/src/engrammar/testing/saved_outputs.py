"""Saved outputs: prove that checkpoints of an earlier release still load and compute the same.

Before a change that renames or moves parameters, save a small fixture with the code as released::

    component = engrammar.build("my_memory", in_features=5, normalization=True)
    save_outputs(component, torch.randn(2, 3, 5), "tests/fixtures/my_memory_v0_1.pt")

After the change, one test loads it into the new code (strictly: every key must find its place,
through :func:`engrammar.nn.rename_on_load` where names changed) and compares the outputs::

    def test_release_0_1_checkpoints_still_load():
        saved = check_saved_outputs(engrammar.build("my_memory", in_features=5, normalization=True), FIXTURE)
        assert "norm.weight" in saved.state                 # it was written under the old names

The file is a plain ``torch.save`` of tensors (``state.<key>``, ``input``, ``output``), read back with
``weights_only=True``: loading it runs no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from ..component import Component

__all__ = ["SavedOutputs", "check_saved_outputs", "load_saved_outputs", "save_outputs"]


class SavedOutputs(NamedTuple):
    state: dict[str, Tensor]  # the state dict, under the names it was saved with
    inputs: Tensor  # (B, T, in_features)
    outputs: Tensor  # (B, T, out_features), the component's output from its initial state, in eval mode


def save_outputs(component: Component, inputs: Tensor, path: str | Path) -> Path:
    """Run ``component`` (in eval mode, from its initial state) on ``inputs`` (B, T, in_features)
    and save its state dict, the inputs and the outputs to ``path``."""
    was_training = component.training
    component.eval()
    try:
        with torch.no_grad():
            outputs, _ = component(inputs)
    finally:
        component.train(was_training)
    record = {f"state.{key}": value.detach().clone() for key, value in component.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**record, "input": inputs.detach().clone(), "output": outputs}, path)
    return path


def load_saved_outputs(path: str | Path) -> SavedOutputs:
    """Read a file written by :func:`save_outputs`."""
    saved = torch.load(Path(path), weights_only=True)
    missing = {"input", "output"} - set(saved)
    if missing:
        raise ValueError(f"{path}: not a saved-outputs file (no {', '.join(sorted(missing))})")
    state = {key.removeprefix("state."): value for key, value in saved.items() if key.startswith("state.")}
    return SavedOutputs(state, saved["input"], saved["output"])


def check_saved_outputs(
    component: Component, path: str | Path, *, atol: float = 1e-6, rtol: float = 1e-5
) -> SavedOutputs:
    """Load the state dict saved in ``path`` into ``component`` (strictly) and check that it gives
    the saved outputs on the saved inputs (in eval mode, from its initial state). Raises
    ``AssertionError`` naming what differs; returns what was saved."""
    saved = load_saved_outputs(path)
    result = component.load_state_dict(saved.state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise AssertionError(
            f"{path}: the saved state dict does not fit {type(component).__name__}: "
            f"missing {result.missing_keys}, unexpected {result.unexpected_keys}"
        )
    component.eval()
    with torch.no_grad():
        outputs, _ = component(saved.inputs.to(saved.outputs.dtype))
    if outputs.shape != saved.outputs.shape:
        raise AssertionError(f"{path}: output shape {tuple(outputs.shape)}, saved {tuple(saved.outputs.shape)}")
    if not torch.allclose(outputs, saved.outputs, atol=atol, rtol=rtol):
        difference = float((outputs - saved.outputs).abs().max())
        raise AssertionError(f"{path}: outputs differ from the saved ones by up to {difference:.3g}")
    return saved
