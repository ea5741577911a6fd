"""Neural memories that learn at test time, for engrammar.

- ``neural_memory``: Titans' long-term memory (MLP fast weights, momentum, weight decay, chunks).
- ``ttt_linear``, ``ttt_mlp``: TTT layers (linear / MLP inner model with residual and layer norm).
- :mod:`.ops`: the inner loops on their own (naive ``torch.func`` oracle, step, chunked form).
"""

from .neural_memory import NeuralMemory, NeuralMemorySpec
from .ttt import TTTMLP, TTTLinear, TTTLinearSpec, TTTMLPSpec

__all__ = ["TTTMLP", "NeuralMemory", "NeuralMemorySpec", "TTTLinear", "TTTLinearSpec", "TTTMLPSpec"]
