"""``episodic`` and ``long_term`` against the shared conformance suite, one class per head option
set so each is checked whatever the draws. Tables of 3 to 5 slots fill up and wrap inside the
drawn sequences (and the warm-up the gradient properties run first), so overwriting, eviction and
top-k choices among written and free slots are all exercised."""

from __future__ import annotations

from engrammar.testing import conformance_tests, feedback_conformance_tests

TABLE = {"num_slots": 4, "key_size": 3, "value_size": 2}
USAGE = [{"use": "usage_writer"}]

TestContentReader = conformance_tests("episodic", specs=[{**TABLE, "readers": [{"use": "content_reader"}]}])
TestContentReaderTwoHeadsUnsharpened = conformance_tests(
    "episodic", specs=[{**TABLE, "readers": [{"use": "content_reader", "num_heads": 2, "sharpening": False}]}]
)
TestAttentionReader = conformance_tests(
    "episodic", specs=[{**TABLE, "readers": [{"use": "attention_reader", "num_heads": 2}], "writers": USAGE}]
)
TestSparseReader = conformance_tests(
    "episodic", specs=[{**TABLE, "num_slots": 5, "readers": [{"use": "sparse_reader", "top_k": 2}], "writers": USAGE}]
)
TestSparseReaderTwoHeadsAllSlots = conformance_tests(
    "episodic", specs=[{**TABLE, "readers": [{"use": "sparse_reader", "top_k": 4, "num_heads": 2}]}]
)
TestAppendWriter = conformance_tests(
    "episodic", specs=[{**TABLE, "num_slots": 3, "writers": [{"use": "append_writer"}]}]
)
TestUsageWriterSparseReads = conformance_tests(
    "episodic", specs=[{**TABLE, "num_slots": 3, "readers": [{"use": "sparse_reader", "top_k": 2}], "writers": USAGE}]
)
TestSurpriseWriterFixed = conformance_tests(
    "episodic", specs=[{**TABLE, "writers": [{"use": "surprise_writer", "threshold": 0.3}]}]
)
TestSurpriseWriterLearned = conformance_tests(
    "episodic",
    specs=[{**TABLE, "writers": [{"use": "surprise_writer", "learn_threshold": True, "temperature": 0.5}]}],
)
TestSeveralHeads = conformance_tests(
    "episodic",
    specs=[
        {
            **TABLE,
            "readers": [{"use": "content_reader", "num_heads": 2}, {"use": "sparse_reader", "top_k": 2}],
            "writers": [{"use": "usage_writer"}, {"use": "append_writer"}],
        }
    ],
)
TestReadOutOptions = conformance_tests(
    "episodic", specs=[{**TABLE, "normalization": True, "dropout": 0.2, "pass_through": True}]
)
TestLongTerm = conformance_tests("long_term", specs=[{**TABLE, "num_slots": 10}])  # its default reads: the top 8

# inside a loop: a controller fed the memory's reads one step late, as a DNC is wired
TestEpisodicInFeedback = feedback_conformance_tests(
    "episodic", specs=[{**TABLE, "readers": [{"use": "sparse_reader", "top_k": 2}], "writers": USAGE}]
)
