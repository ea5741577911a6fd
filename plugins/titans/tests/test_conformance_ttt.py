"""``ttt_linear`` and ``ttt_mlp`` against the shared conformance suite, one class per option set so
that each is checked whatever the draws."""

from __future__ import annotations

from engrammar.testing import conformance_tests

SMALL = {"hidden_size": 3, "num_heads": 2, "head_dim": 2}

TestLinearMiniBatch = conformance_tests("ttt_linear", specs=[{**SMALL, "chunk_size": 2}])
TestLinearOnline = conformance_tests(
    "ttt_linear", specs=[{**SMALL, "chunk_size": 1, "use_short_conv": False, "use_output_gate": False}]
)
TestLinearFrozenAtTestTime = conformance_tests(
    "ttt_linear", specs=[{**SMALL, "chunk_size": 3, "learn_at_test_time": False, "conv_size": 2}]
)
TestMLPMiniBatch = conformance_tests("ttt_mlp", specs=[{**SMALL, "chunk_size": 3, "mlp_expansion": 2}])
TestMLPOnlineFrozen = conformance_tests(
    "ttt_mlp", specs=[{**SMALL, "chunk_size": 1, "mlp_expansion": 1, "learn_at_test_time": False}]
)
