"""Every Python block of the PULSE tutorial (docs/tutorial.md, word for word) runs as written, in
order, in one namespace as a reader pasting them into one session would, under the names ``pulse``
and ``nsm`` (the Neural State Machines variant is the same text with PULSE, Pulse and pulse read as
NSM, NSM and nsm), and prints what the tutorial says it prints.

Two documented departures: the training loop runs ``TRAIN_EPOCHS`` epochs instead of 20 under
``nsm`` (the ``pulse`` run keeps the 20 as written; both together stay within the plugin's test
budget), and ``advanced_train``, which the tutorial defines but never calls, is called for 2 epochs
to show that it runs too. The blocks write their files (``runs/``, ``debug_logs/``) into a
temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from engrammar_pulse.debugger import _ENABLED

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
TRAIN_EPOCHS = {"pulse": 20, "nsm": 3}

#: for each block, in order: lines (or line beginnings) its output must contain
EXPECTED = [
    ["State vectors shape: torch.Size([32, 16, 128])"],
    ["Updated state shape: torch.Size([32, 128])"],
    ["Multi-state update shape: torch.Size([32, 16, 128])"],
    ["Installation successful!", "Output shape: torch.Size([2, 64])"],
    ["Previous state: torch.Size([16, 128])", "Updated state: torch.Size([16, 128])", "Average state change: "],
    ["Previous states: torch.Size([16, 8, 128])", "Updated states: torch.Size([16, 8, 128])"],
    [
        "Initial states: torch.Size([16, 128])",
        "Epoch 0: Active states = 16, Avg importance = 0.500",
        "  Pruned 0 states, allocated 2 states",
        "Epoch 9: Active states = 22, Avg importance = 0.500",
        "Final states: torch.Size([24, 128])",
    ],
    [
        "Routed tokens: torch.Size([16, 8, 128])",
        "Routing weights: torch.Size([16, 20, 8])",
        "Average routing weight: 0.125",
    ],
    ["Initial states: torch.Size([16, 8, 128])", "Updated states: torch.Size([16, 8, 128])"],
    ["Step 10: Pruned 0 states", "State importance evolution plotted!"],
    ["Input shape: torch.Size([32, 784])", "Output shape: torch.Size([32, 10])", "Training step completed. Loss: "],
    ["Input tokens: torch.Size([8, 30, 64])", "Output: torch.Size([8, 5])", "Backward pass successful!"],
    ["Epoch 1/{epochs}:", "  Train Loss: ", "  Test Loss: ", "Training completed!"],
    [],
    [],
    [],
    [],
    ["{debugger}: recording state norms, routing entropy and gate values to debug_logs/"],
]


def nsm_names(text: str) -> str:
    """The Neural State Machines text of the tutorial: PULSE, Pulse and pulse read as NSM, NSM, nsm."""
    return re.sub(r"PULSE|Pulse|pulse", lambda match: "nsm" if match.group() == "pulse" else "NSM", text)


def python_blocks(text: str) -> list[str]:
    """The tutorial's ```python blocks, in order (the ```bash installation block is not Python)."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_tutorial(name: str, folder: Path) -> tuple[dict[str, object], list[str]]:
    text = TUTORIAL.read_text()
    if name == "nsm":
        text = nsm_names(text)
    blocks = python_blocks(text)
    assert len(blocks) == len(EXPECTED) == 18
    epochs = TRAIN_EPOCHS[name]
    namespace: dict[str, object] = {"__name__": "__tutorial__"}
    outputs = []
    torch.manual_seed(0)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        for index, block in enumerate(blocks):
            if epochs != 20 and "epochs = 20\n" in block:
                block = block.replace("epochs = 20\n", f"epochs = {epochs}\n")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyplot.show on a non-interactive backend, torch.cuda.amp's rename
                exec(compile(block, f"{TUTORIAL.name}[{name} block {index}]", "exec"), namespace)
            outputs.append(printed.getvalue())
    finally:
        os.chdir(previous)
    return namespace, outputs


@pytest.fixture(autouse=True)
def _headless_pyplot(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
    for debugger in list(_ENABLED):  # the tutorial's last block leaves its debugger enabled
        debugger.disable_debug()


@pytest.mark.parametrize("name", ["pulse", "nsm"])
def test_every_block_runs_as_written_and_prints_what_it_says(name: str, tmp_path: Path) -> None:
    namespace, outputs = run_tutorial(name, tmp_path)
    epochs = TRAIN_EPOCHS[name]
    for index, (printed, expected) in enumerate(zip(outputs, EXPECTED)):
        lines = printed.splitlines()
        for wanted in expected:
            wanted = wanted.format(epochs=epochs, debugger="PulseDebugger" if name == "pulse" else "NSMDebugger")
            assert any(line.startswith(wanted) for line in lines), f"block {index}: no line {wanted!r} in\n{printed}"
    # the classifier of the training loop learned something: better than chance (20 %) on held-out data
    final_test = [line for line in outputs[12].splitlines() if line.startswith("  Test Loss")][-1]
    assert float(final_test.rsplit(" ", 1)[-1].rstrip("%")) > 35.0
    assert f"Epoch {epochs}/{epochs}:" in outputs[12]
    # the debugger of the last block is enabled and writes per-layer files for whatever runs next
    debugger = namespace["debugger"]
    model = namespace["model"]
    try:
        model(torch.randn(4, 64))  # type: ignore[operator]
    finally:
        debugger.disable_debug()  # type: ignore[attr-defined]
    files = sorted(path.name for path in (tmp_path / "debug_logs").iterdir())
    assert files == ["StatePropagator_0.jsonl", "TokenToStateRouter_0.jsonl"], files


@pytest.mark.parametrize("name", ["pulse", "nsm"])
def test_the_advanced_training_function_runs(name: str, tmp_path: Path) -> None:
    text = TUTORIAL.read_text()
    if name == "nsm":
        text = nsm_names(text)
    blocks = python_blocks(text)
    namespace: dict[str, object] = {}
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        exec(compile(blocks[12].replace("epochs = 20\n", "epochs = 0\n"), "training", "exec"), namespace)
        exec(compile(blocks[13], "advanced", "exec"), namespace)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            namespace["advanced_train"](
                namespace["model"], namespace["train_loader"], namespace["test_loader"], epochs=2
            )  # type: ignore[operator]
    finally:
        os.chdir(previous)
    assert "Training completed! Best validation accuracy: " in printed.getvalue()
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith(f"{name}_advanced_training_")
    assert {"metrics.json", "best_model.pth"} <= {path.name for path in run.iterdir()}
    assert any(path.name.startswith("events.out.tfevents") for path in run.iterdir())  # TensorBoard's own file


def test_the_name_swap() -> None:
    swapped = nsm_names("from pulse.models import SimplePulse; PULSEVisualizer(); pulse_layer = PulseLayer(...)")
    assert swapped == "from nsm.models import SimpleNSM; NSMVisualizer(); nsm_layer = NSMLayer(...)"
    text = nsm_names(TUTORIAL.read_text())
    for name in (
        "from nsm import StatePropagator",
        "NSMLayer",
        "nsm.models import SimpleNSM",
        "NSMDebugger",
        "NSMVisualizer",
    ):
        assert name in text
