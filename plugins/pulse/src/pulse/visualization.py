"""``from pulse.visualization import PULSEVisualizer``."""

from engrammar_pulse.visualization import PULSEVisualizer

__all__ = ["PULSEVisualizer"]
