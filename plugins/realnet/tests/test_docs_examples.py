"""Every Python block of docs/realnet.md, run as written, in order, in one namespace (in a
temporary folder, since the checkpoint example writes files); then what the comments promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[3] / "docs" / "realnet.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.skipif(not DOC.is_file(), reason="docs/realnet.md is not beside this installed plugin")
def test_the_documented_examples_run_and_do_what_they_say(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_realnet"}
    for index, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/realnet.md block {index}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            raise AssertionError(f"block {index} of docs/realnet.md failed:\n{block}") from error
    ns = namespace
    assert ns["model"].num_neurons == 10  # the constructor block rebinds `model`
    # XOR, the first block: its printed predictions read 0, 1, 1, 0.
    printed = capsys.readouterr().out
    first = re.search(r"tensor\(\[([^\]]*)\]\)", printed)
    assert first is not None
    values = [float(v) for v in first.group(1).split(",")]
    assert [v > 0.5 for v in values] == [False, True, True, False]
    assert ns["states"].shape == (1, 3, 6) and ns["logits"].shape == (5, 4, 10) and ns["scores"].shape == (2, 36, 100)
    assert ns["x_in"].tolist() == [[0.5, 1.0, 0.0, 0.0, 0.0, 0.0]]
    assert ns["big_model"].num_neurons == 32 and ns["info"]["skipped"] == ["weight", "bias"]
    assert torch.equal(ns["big_model"].weight.detach()[:16, :16], ns["small"].weight.detach())
    assert ns["revived"] == 3 and ns["total"] == 64
    assert ns["trainer"].model.num_neurons in (8, 9)
    assert ns["y"].shape == (2, 5, 4) and ns["state"]["neurons"].shape == (2, 16)
    assert (tmp_path / "small_model_checkpoint.pth").is_file()
