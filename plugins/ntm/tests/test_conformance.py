"""The NTM passes the conformance suite, across its options."""

from __future__ import annotations

from engrammar.testing import conformance_tests, feedback_conformance_tests

TINY = {"memory_size": 4, "word_size": 3, "num_reads": 1, "num_writes": 1}

SMOOTH_SPECS = [
    TINY,
    {**TINY, "num_reads": 2, "num_writes": 2, "shift_range": 2},
    {**TINY, "erasure": False, "gating": False, "beta": 5.0, "gamma": 2.0},
    {**TINY, "gate_type": "steep_sigmoid", "normalization": True, "shift_range": 0},
    {**TINY, "pass_through": True, "dropout": 0.2, "initialization": "kaiming"},
]

TestNTMConformance = conformance_tests("ntm", specs=SMOOTH_SPECS)

# A Heaviside gate is piecewise constant: its straight-through gradient is by design not the
# finite-difference one, so gradcheck does not apply; every other property must hold.
TestNTMHeavisideConformance = conformance_tests(
    "ntm",
    specs=[{**TINY, "gate_type": "heaviside"}],
    skip={"gradcheck": "heaviside gates use a straight-through gradient, not the true (zero) one"},
)


# The memory inside a loop: core's `linear` as the controller, fed the reads one step late (`mem@-1`).
TestNTMFeedbackWiringConformance = feedback_conformance_tests("ntm", specs=[TINY])
