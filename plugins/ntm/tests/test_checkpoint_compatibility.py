"""Checkpoints of release 0.1.0 still load: the read-out's layer norm moved from ``norm.*`` to
``read_out.norm.*`` (core's :class:`engrammar.nn.ReadOut`), and the NTM renames the old keys on load.

``fixtures/ntm_v0_1_0.pt`` was written by release 0.1.0 (the code before the move): a NTM built
with ``SPEC`` under ``torch.manual_seed(0)``, its norm's weight and bias redrawn (uniform in
[0.5, 1.5] and [-0.5, 0.5], so a norm lost on load would show), run in eval mode on a (2, 3, 5)
input; the file holds its state dict, the input and the output (the layout of
:func:`engrammar.testing.save_outputs`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from engrammar.testing import check_saved_outputs, save_outputs
from engrammar_ntm import NTM

FIXTURE = Path(__file__).parent / "fixtures" / "ntm_v0_1_0.pt"
SPEC = {"in_features": 5, "memory_size": 4, "word_size": 3, "num_reads": 2, "normalization": True, "pass_through": True}


def test_a_release_0_1_0_checkpoint_loads_and_gives_its_outputs():
    component = NTM(**SPEC)
    saved = check_saved_outputs(component, FIXTURE)
    assert {"norm.weight", "norm.bias"} <= set(saved.state)  # written under the old names
    assert torch.equal(component.read_out.norm.weight, saved.state["norm.weight"])
    assert torch.equal(component.read_out.norm.bias, saved.state["norm.bias"])


def test_checkpoints_written_now_use_the_new_names_and_load(tmp_path):
    torch.manual_seed(3)
    component = NTM(**SPEC)
    path = save_outputs(component, torch.randn(2, 3, 5), tmp_path / "now.pt")
    torch.manual_seed(4)
    saved = check_saved_outputs(NTM(**SPEC), path)
    assert "read_out.norm.weight" in saved.state and "norm.weight" not in saved.state
