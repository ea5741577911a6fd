"""``z2_seam`` against the shared conformance suite, one class per option set."""

from __future__ import annotations

from engrammar.testing import conformance_tests

TestZ2Seam = conformance_tests("z2_seam", specs=[{"hidden_size": 4}])
TestZ2SeamOrthogonalSharp = conformance_tests(
    "z2_seam", specs=[{"hidden_size": 2, "orthogonal_flip": True, "temperature": 0.5, "k_star": 0.3}]
)
