"""Gated delta memories for engrammar.

- ``gated_deltanet``: the matrix-state gated delta rule, chunked (WY / UT) for whole sequences.
- ``gated_delta_rnn``: the seed's vector-state gated delta unit, as an associative scan.
- ``z2_seam``: the seed's baseline, the seam-gated Z2-symmetric RNN (parity energy, seam gate).
- :mod:`.ops`: the kernels on their own (naive oracles, step recurrence, chunked form, scan).
- :class:`GateActivationHook`: the gates of a model's gated units, collected through the recorder.
- :mod:`.plots`: gate heatmaps, parity energy trajectories and statistics (matplotlib, imported lazily).
"""

from .compat import Z2GatedDeltaRNN, Z2SeamGatedRNN
from .gate_hook import GateActivationHook
from .gated_delta_rnn import GatedDeltaRNN, GatedDeltaRNNSpec
from .gated_deltanet import GatedDeltaNet, GatedDeltaNetSpec
from .z2_seam import K_STAR, Z2Seam, Z2SeamSpec, parity_energy

__all__ = [
    "K_STAR",
    "GateActivationHook",
    "GatedDeltaNet",
    "GatedDeltaNetSpec",
    "GatedDeltaRNN",
    "GatedDeltaRNNSpec",
    "Z2GatedDeltaRNN",
    "Z2Seam",
    "Z2SeamGatedRNN",
    "Z2SeamSpec",
    "parity_energy",
]
