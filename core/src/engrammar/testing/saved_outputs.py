"""Saved outputs: prove that checkpoints of an earlier release still load and compute the same.

Before a change that renames or moves parameters, save a small fixture with the code as released::

    component = engrammar.build("my_memory", in_features=5, normalization=True)
    save_outputs(component, torch.randn(2, 3, 5), "tests/fixtures/my_memory_v0_1.pt")

After the change, one line of tests loads it into the new code (strictly: every key must find its
place, through :func:`engrammar.nn.rename_on_load` where names changed) and compares the outputs::

    TestRelease01 = saved_outputs_tests("my_memory", FIXTURE, SPEC, renamed={"norm.weight": "read_out.norm.weight"})

or, by hand, ``saved = check_saved_outputs(engrammar.build("my_memory", **SPEC), FIXTURE)``.

The file is a plain ``torch.save`` of tensors (``state.<key>``, ``input``, ``output``), read back with
``weights_only=True``: loading it runs no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..component import Component

__all__ = ["SavedOutputs", "check_saved_outputs", "load_saved_outputs", "save_outputs", "saved_outputs_tests"]


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


def saved_outputs_tests(
    component: Any, path: str | Path, spec: Mapping[str, Any], *, renamed: Mapping[str, str] | None = None
) -> type:
    """A pytest class: the file at ``path`` (from :func:`save_outputs`, written by an earlier
    release) loads strictly into ``component`` built with ``spec`` and gives its saved outputs;
    each old key of ``renamed`` is in the file and lands in its new key; and a file written now
    holds the new names only and loads too. ``component``: a registry name, a class or a factory."""
    renamed = dict(renamed or {})

    def build() -> Component:
        from ..registry import build as build_by_name

        return build_by_name(component, **spec) if isinstance(component, str) else component(**spec)

    def test_the_saved_checkpoint_loads_and_gives_its_outputs(self: Any) -> None:
        built = build()
        saved = check_saved_outputs(built, path)
        current = built.state_dict()
        for old, new in renamed.items():
            assert old in saved.state, f"{old!r} is not in {path}: it does not test the rename"
            assert torch.equal(current[new], saved.state[old]), f"{old!r} did not land in {new!r}"

    def test_checkpoints_written_now_use_the_new_names(self: Any, tmp_path: Path) -> None:
        saved = load_saved_outputs(path)
        written = save_outputs(build(), saved.inputs, tmp_path / "now.pt")
        again = check_saved_outputs(build(), written)
        assert not set(renamed) & set(again.state), "old names are still written"
        assert set(renamed.values()) <= set(again.state)

    label = component if isinstance(component, str) else getattr(component, "__name__", "component")
    return type(
        f"SavedOutputs[{label}, {Path(path).name}]",
        (),
        {
            "__doc__": f"{Path(path).name} still loads into {label}.",
            "__test__": True,
            "test_the_saved_checkpoint_loads_and_gives_its_outputs": test_the_saved_checkpoint_loads_and_gives_its_outputs,
            "test_checkpoints_written_now_use_the_new_names": test_checkpoints_written_now_use_the_new_names,
        },
    )
