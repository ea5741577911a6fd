"""``gated_deltanet`` against the shared conformance suite, in each of its paths and options."""

from __future__ import annotations

from engrammar.testing import conformance_tests

SMALL = {"hidden_size": 3, "num_heads": 2, "head_dim": 3, "value_dim": 2}

# chunk sizes of 2 and 3 put chunk boundaries (and resets across them) inside the short drawn
# sequences; the recurrent mode and every option switched off are checked too.
TestGatedDeltaNet = conformance_tests(
    "gated_deltanet",
    specs=[
        {**SMALL, "chunk_size": 2},
        {**SMALL, "chunk_size": 3, "conv_size": 2},
        {**SMALL, "mode": "recurrent"},
        {**SMALL, "use_short_conv": False, "use_output_gate": False, "chunk_size": 4},
    ],
)
