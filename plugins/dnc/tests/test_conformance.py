"""The DNC passes the conformance suite, across its options."""

from __future__ import annotations

from engrammar.testing import conformance_tests, feedback_conformance_tests

TINY = {"memory_size": 4, "word_size": 3, "num_reads": 2, "num_writes": 1}

SMOOTH_SPECS = [
    TINY,
    {**TINY, "num_writes": 2, "gamma": None},
    {**TINY, "erasure": False, "gating": False, "beta": 5.0},
    {**TINY, "gate_type": "steep_sigmoid", "gamma": 2.0, "normalization": True},
    {**TINY, "pass_through": True, "dropout": 0.2, "initialization": "orthogonal"},
]

TestDNCConformance = conformance_tests("dnc", specs=SMOOTH_SPECS)

# A Heaviside gate is piecewise constant: its (straight-through) gradient is by design not the
# finite-difference one, so gradcheck does not apply; every other property must hold.
TestDNCHeavisideConformance = conformance_tests(
    "dnc",
    specs=[{**TINY, "gate_type": "heaviside"}, {**TINY, "gate_type": "heaviside", "num_writes": 2}],
    skip={"gradcheck": "heaviside gates use a straight-through gradient, not the true (zero) one"},
)


# The memory inside a loop: core's `linear` as the controller, fed the reads one step late (`mem@-1`).
TestDNCFeedbackWiringConformance = feedback_conformance_tests("dnc", specs=[TINY])
