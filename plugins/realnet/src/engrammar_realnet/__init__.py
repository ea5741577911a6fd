"""engrammar-realnet: RealNet, one fully connected N×N recurrent layer run for a chosen number of
thinking steps, with its trainer, checkpoints that transplant between sizes, and neurogenesis.

The documented names live in the ``realnet`` package (``from realnet import RealNet``); the registry
memory ``realnet`` (:class:`RealNetMemory`) puts the same layer under engrammar's state protocol.
Guide and measurements: ``docs/realnet.md``.
"""

from __future__ import annotations

from .data import prepare_input, to_tensor
from .network import RealNet
from .realstore import get_checkpoint_info, load_checkpoint, save_checkpoint, transplant_weights
from .trainer import RealNetTrainer

__all__ = [
    "RealNet",
    "RealNetTrainer",
    "get_checkpoint_info",
    "load_checkpoint",
    "prepare_input",
    "save_checkpoint",
    "to_tensor",
    "transplant_weights",
]
