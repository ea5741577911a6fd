"""``gated_deltanet`` against the shared conformance suite, one class per configuration so that
each is checked whatever the draws. Chunk sizes of 2 and 3 put chunk boundaries (and resets across
them) inside the short drawn sequences."""

from __future__ import annotations

from engrammar.testing import conformance_tests

SMALL = {"hidden_size": 3, "num_heads": 2, "head_dim": 3, "value_dim": 2}

TestChunk = conformance_tests("gated_deltanet", specs=[{**SMALL, "chunk_size": 2}])
TestChunkShortConv = conformance_tests("gated_deltanet", specs=[{**SMALL, "chunk_size": 3, "conv_size": 2}])
TestRecurrent = conformance_tests("gated_deltanet", specs=[{**SMALL, "mode": "recurrent"}])
TestPlain = conformance_tests(
    "gated_deltanet", specs=[{**SMALL, "use_short_conv": False, "use_output_gate": False, "chunk_size": 4}]
)
