"""``neural_memory`` against the shared conformance suite, one class per option set so that each is
checked whatever the draws. Chunk sizes of 2 and 3 put chunk boundaries (and resets across them)
inside the short drawn sequences, and states enter mid-chunk."""

from __future__ import annotations

from engrammar.testing import conformance_tests

SMALL = {"hidden_size": 3, "num_heads": 2, "head_dim": 2, "memory_expansion": 2}

TestChunked = conformance_tests("neural_memory", specs=[{**SMALL, "chunk_size": 2}])
TestOnlineMatrix = conformance_tests("neural_memory", specs=[{**SMALL, "chunk_size": 1, "memory_depth": 1}])
TestReadBeforeUpdate = conformance_tests(
    "neural_memory", specs=[{**SMALL, "chunk_size": 2, "read_before_update": True, "conv_size": 2}]
)
TestPlain = conformance_tests(
    "neural_memory",
    specs=[
        {
            **SMALL,
            "chunk_size": 3,
            "memory_depth": 3,
            "use_momentum": False,
            "use_weight_decay": False,
            "use_short_conv": False,
            "use_output_gate": False,
        }
    ],
)
TestFrozenAtTestTime = conformance_tests(
    "neural_memory", specs=[{**SMALL, "chunk_size": 2, "learn_at_test_time": False}]
)
