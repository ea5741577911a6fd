"""Every attention component against the shared conformance suite, one class per configuration so
each option set is checked whatever the draws. Windows of 1 to 3 put the blocked path (a sequence
of at least one window) and resets across its blocks inside the short drawn sequences."""

from __future__ import annotations

from engrammar.testing import conformance_tests

SMALL = {"hidden_size": 3, "num_heads": 2, "head_dim": 2}

TestWindow1 = conformance_tests("sliding_window", specs=[{**SMALL, "window": 1}])
TestWindow2 = conformance_tests("sliding_window", specs=[{**SMALL, "window": 2}])
TestWindow3NoRotary = conformance_tests("sliding_window", specs=[{**SMALL, "window": 3, "rotary": False}])
TestWindowPersistent = conformance_tests("sliding_window", specs=[{**SMALL, "window": 2, "persistent_slots": 2}])
TestShortTermAlias = conformance_tests("short_term", specs=[{**SMALL, "window": 3, "num_heads": 1}])

TestPersistentMemory = conformance_tests("persistent_memory", specs=[{**SMALL, "num_slots": 3}])
TestPersistentMemoryOneHead = conformance_tests(
    "persistent_memory", specs=[{"hidden_size": 2, "num_heads": 1, "head_dim": 3, "num_slots": 2}]
)

TestKV = conformance_tests("kv_attention", specs=[SMALL])
TestKVMaxLength = conformance_tests("kv_attention", specs=[{**SMALL, "max_length": 2}])
TestKVPersistentNoRotary = conformance_tests(
    "attention_memory", specs=[{**SMALL, "rotary": False, "persistent_slots": 2}]
)
