"""``gated_delta_rnn`` against the shared conformance suite: scan and loop, with and without Z2."""

from __future__ import annotations

from engrammar.testing import conformance_tests

TestGatedDeltaRNN = conformance_tests(
    "gated_delta_rnn",
    specs=[
        {"hidden_size": 4, "delta_rank": 2},
        {"hidden_size": 5, "delta_rank": 3, "z2_symmetric": True},
        {"hidden_size": 3, "delta_rank": 1, "use_parallel_scan": False},
        {"hidden_size": 3, "delta_rank": 2, "trace": True, "z2_symmetric": True},
    ],
)
