"""RealNet under its documented name: ``from realnet import RealNet, RealNetTrainer, transplant_weights``.

A thin name package: the implementation is ``engrammar_realnet`` (``docs/realnet.md``).
"""

from engrammar_realnet import RealNet, RealNetTrainer, transplant_weights

__all__ = ["RealNet", "RealNetTrainer", "transplant_weights"]
