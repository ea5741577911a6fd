"""``realnet.utils.realstore``: the documented name of :mod:`engrammar_realnet.realstore`."""

from engrammar_realnet.realstore import get_checkpoint_info, load_checkpoint, save_checkpoint, transplant_weights

__all__ = ["get_checkpoint_info", "load_checkpoint", "save_checkpoint", "transplant_weights"]
