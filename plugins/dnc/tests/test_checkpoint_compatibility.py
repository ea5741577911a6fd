"""Checkpoints of release 0.1.0 still load: the read-out's layer norm moved from ``norm.*`` to
``read_out.norm.*`` (core's :class:`engrammar.nn.ReadOut`), and the DNC renames the old keys on load.

``fixtures/dnc_v0_1_0.pt`` was written by release 0.1.0 (the code before the move): a DNC built
with ``SPEC`` under ``torch.manual_seed(0)``, its norm's weight and bias redrawn (uniform in
[0.5, 1.5] and [-0.5, 0.5], so a norm lost on load would show), run in eval mode on a (2, 3, 5)
input; the file holds its state dict, the input and the output (the layout of
:func:`engrammar.testing.save_outputs`).
"""

from __future__ import annotations

from pathlib import Path

from engrammar.testing import saved_outputs_tests

FIXTURE = Path(__file__).parent / "fixtures" / "dnc_v0_1_0.pt"
SPEC = {"in_features": 5, "memory_size": 4, "word_size": 3, "num_reads": 2, "normalization": True, "pass_through": True}
RENAMED = {"norm.weight": "read_out.norm.weight", "norm.bias": "read_out.norm.bias"}

TestRelease010Checkpoint = saved_outputs_tests("dnc", FIXTURE, SPEC, renamed=RENAMED)
