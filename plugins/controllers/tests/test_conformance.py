"""Every controller against engrammar's conformance suite (resets included)."""

from engrammar.testing import conformance_tests

TestLSTMConformance = conformance_tests(
    "lstm", specs=[{"hidden_size": 3}, {"hidden_size": 4, "num_layers": 2}, {"hidden_size": 2, "num_layers": 3}]
)
TestGRUConformance = conformance_tests("gru", specs=[{"hidden_size": 3}, {"hidden_size": 4, "num_layers": 2}])
TestMLPConformance = conformance_tests(
    "mlp",
    specs=[
        {"hidden_size": 4},
        {"hidden_size": 3, "num_layers": 3, "activation": "tanh", "normalization": "layer", "out_features": 2},
        {"hidden_size": 4, "num_layers": 1, "activation": "gelu", "normalization": "rms"},
    ],
)
# A window bounds the cache: the state has a constant length.
TestWindowedTransformerConformance = conformance_tests(
    "transformer",
    specs=[
        {"hidden_size": 4, "num_heads": 2, "num_layers": 1, "window": 3},
        {"hidden_size": 8, "num_heads": 2, "num_layers": 2, "window": 2, "dim_feedforward": 6},
        {"hidden_size": 4, "num_heads": 1, "num_layers": 1, "window": 1},
    ],
)
# Without a window the cache grows one slot per token: a run-time dimension with its count.
TestUnboundedTransformerConformance = conformance_tests(
    "transformer", specs=[{"hidden_size": 4, "num_heads": 2, "num_layers": 2}]
)
