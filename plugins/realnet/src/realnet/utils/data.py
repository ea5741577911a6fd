"""``realnet.utils.data``: the documented name of :mod:`engrammar_realnet.data`."""

from engrammar_realnet.data import prepare_input, to_tensor

__all__ = ["prepare_input", "to_tensor"]
