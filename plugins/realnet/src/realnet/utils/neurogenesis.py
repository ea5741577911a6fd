"""``realnet.utils.neurogenesis``: the documented name of :mod:`engrammar_realnet.neurogenesis`."""

from engrammar_realnet.neurogenesis import expand

__all__ = ["expand"]
