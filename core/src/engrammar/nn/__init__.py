"""Building blocks that several component families share, so a memory author reuses them instead
of copying: content addressing and sharpening (:mod:`.addressing`), reading and writing a memory
matrix (:mod:`.read_write`), rotary position embeddings (:mod:`.rotary`), the read-out of read vectors (:class:`ReadOut`), loading state dicts
saved under older parameter names (:func:`rename_on_load`), gate activations selectable by name
(with a straight-through Heaviside), weight initialisation schemes, the ``Trace`` accumulator in
which a recording keeps what a component reports with ``engrammar.report_trace``, and scaffolding
for PNG plots (:mod:`engrammar.nn.plotting`, which imports matplotlib only when called), with
the routing plots of ``moe`` and every router in :mod:`engrammar.nn.routing_plots`."""

from . import plotting
from .addressing import (
    NORM_EPSILON,
    SHARPEN_EPSILON,
    ContentCache,
    content_weights,
    content_weights_backward,
    content_weights_forward,
    cosine_similarity,
    sharpen,
)
from .gates import GATE_TYPES, gate
from .initialization import INITIALIZATIONS, initialize_linear
from .migration import KeyRenames, rename_on_load
from .read_out import ReadOut
from .read_write import read_memory, write_memory
from .rotary import rotary_angles, rotate
from .trace import Trace

__all__ = [
    "GATE_TYPES",
    "INITIALIZATIONS",
    "NORM_EPSILON",
    "SHARPEN_EPSILON",
    "ContentCache",
    "KeyRenames",
    "ReadOut",
    "Trace",
    "content_weights",
    "content_weights_backward",
    "content_weights_forward",
    "cosine_similarity",
    "gate",
    "initialize_linear",
    "plotting",
    "read_memory",
    "rename_on_load",
    "rotary_angles",
    "rotate",
    "sharpen",
    "write_memory",
]
