"""``realnet.core.network``: the documented name of :mod:`engrammar_realnet.network`."""

from engrammar_realnet.network import VOCAB_MODES, RealNet

__all__ = ["VOCAB_MODES", "RealNet"]
