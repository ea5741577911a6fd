"""engrammar-tricks: training tricks that apply to any model, as hooks of the trainer.

Registered in the entry-point group ``engrammar.tricks`` (``engrammar list tricks``) and enabled by
name (``engrammar train ... --trick ghost_gradients:persistence=0.1``, a ``tricks:`` list in the
training config, or ``engrammar_train.fit(..., tricks=[...])``); each is also a plain class to pass
as an object. Formulas, options and measured effects: ``docs/tricks.md``.
"""

from __future__ import annotations

from .adamw8bit.optimizer import AdamW8bit, state_bytes
from .adamw8bit.trick import AdamW8bitSpec, AdamW8bitTrick
from .agc import AGC, AGCSpec
from .darwinian_regeneration import DarwinianRegeneration, DarwinianRegenerationSpec
from .ema_weights import EMAWeights, EMAWeightsSpec, ema_state_dict
from .ghost_gradients import GhostGradients, GhostGradientsSpec
from .grad_noise import GradNoise, GradNoiseSpec
from .neurogenesis import Neurogenesis, NeurogenesisSpec
from .synaptic_noise import SynapticNoise, SynapticNoiseSpec
from .trick import Trick

__all__ = [
    "AGC",
    "AGCSpec",
    "AdamW8bit",
    "AdamW8bitSpec",
    "AdamW8bitTrick",
    "DarwinianRegeneration",
    "DarwinianRegenerationSpec",
    "EMAWeights",
    "EMAWeightsSpec",
    "GhostGradients",
    "GhostGradientsSpec",
    "GradNoise",
    "GradNoiseSpec",
    "Neurogenesis",
    "NeurogenesisSpec",
    "SynapticNoise",
    "SynapticNoiseSpec",
    "Trick",
    "ema_state_dict",
    "state_bytes",
]
