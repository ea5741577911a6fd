"""``realnet.training.trainer``: the documented name of :mod:`engrammar_realnet.trainer`."""

from engrammar_realnet.trainer import RealNetTrainer, default_optimizer

__all__ = ["RealNetTrainer", "default_optimizer"]
