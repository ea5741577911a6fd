"""Gated delta memories for engrammar.

- ``gated_deltanet``: the matrix-state gated delta rule, chunked (WY / UT) for whole sequences.
- ``gated_delta_rnn``: the seed's vector-state gated delta unit, as an associative scan.
- :mod:`.ops`: the kernels on their own (naive oracle, step recurrence, chunked form, scan).
- :mod:`.plots`: gate heatmaps and statistics from a trace (matplotlib, imported lazily).
"""

from .compat import Z2GatedDeltaRNN
from .gated_delta_rnn import GatedDeltaRNN, GatedDeltaRNNSpec
from .gated_deltanet import GatedDeltaNet, GatedDeltaNetSpec

__all__ = ["GatedDeltaNet", "GatedDeltaNetSpec", "GatedDeltaRNN", "GatedDeltaRNNSpec", "Z2GatedDeltaRNN"]
