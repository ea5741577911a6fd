"""``from nsm.visualization import NSMVisualizer``."""

from engrammar_pulse.visualization import PULSEVisualizer

__all__ = ["NSMVisualizer"]


class NSMVisualizer(PULSEVisualizer):
    """:class:`engrammar_pulse.PULSEVisualizer` under the Neural State Machines name (its plots go
    to ``nsm_plots`` unless told otherwise)."""

    def __init__(self, out_dir: str = "nsm_plots", dpi: int = 100) -> None:
        super().__init__(out_dir, dpi)
