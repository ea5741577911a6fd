"""The ``pulse`` memory (and its alias ``nsm``) against engrammar's conformance suite, one class per
option set; no property is skipped."""

from engrammar.testing import conformance_tests

TestPulseGRU = conformance_tests("pulse", specs=[{"num_states": 3, "state_dim": 4, "num_heads": 2}])
TestPulseLSTMCommunication = conformance_tests(
    "pulse",
    specs=[{"num_states": 3, "state_dim": 4, "num_heads": 2, "gate_type": "lstm", "enable_communication": True}],
)
# two of four slots active: the inactive ones must stay out of every path (update, read, resets)
TestPulsePartlyActive = conformance_tests(
    "pulse",
    specs=[{"num_states": 4, "state_dim": 2, "num_heads": 1, "initial_states": 2, "enable_communication": True}],
)
TestNSMAlias = conformance_tests("nsm", specs=[{"num_states": 2, "state_dim": 3, "num_heads": 1}])
