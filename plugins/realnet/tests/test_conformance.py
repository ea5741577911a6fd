"""The ``realnet`` memory against the shared conformance suite, one class per option set (in_features
drawn up to 3, below num_neurons). Thinking steps > 1 and a non-default activation and
initialisation are covered; every property runs, none is skipped."""

from __future__ import annotations

from engrammar.testing import conformance_tests
from hypothesis import strategies as st

WIDTHS = st.integers(1, 3)

TestRealNet = conformance_tests("realnet", specs=[{"num_neurons": 5, "out_features": 2}], in_features=WIDTHS)
TestRealNetThinking = conformance_tests(
    "realnet", specs=[{"num_neurons": 4, "out_features": 4, "thinking_steps": 3}], in_features=WIDTHS
)
TestRealNetGelu = conformance_tests(
    "realnet",
    specs=[
        {
            "num_neurons": 6,
            "out_features": 3,
            "thinking_steps": 2,
            "activation": "gelu",
            "weight_init": "xavier_uniform",
        }
    ],
    in_features=WIDTHS,
)
