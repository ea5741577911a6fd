"""``gated_delta_rnn`` against the shared conformance suite, one class per configuration so that
each is checked whatever the draws: scan and loop, with and without Z2, trace and gate context."""

from __future__ import annotations

from engrammar.testing import conformance_tests

TestScan = conformance_tests("gated_delta_rnn", specs=[{"hidden_size": 4, "delta_rank": 2}])
TestLoop = conformance_tests("gated_delta_rnn", specs=[{"hidden_size": 3, "delta_rank": 1, "use_parallel_scan": False}])
TestZ2Trace = conformance_tests(
    "gated_delta_rnn", specs=[{"hidden_size": 5, "delta_rank": 3, "z2_symmetric": True, "trace": True}]
)
TestZ2GateContext = conformance_tests(
    "gated_delta_rnn", specs=[{"hidden_size": 4, "delta_rank": 2, "z2_symmetric": True, "gate_context": True}]
)
TestGateContextLoop = conformance_tests(
    "gated_delta_rnn",
    specs=[{"hidden_size": 3, "delta_rank": 2, "gate_context": True, "use_parallel_scan": False}],
)
