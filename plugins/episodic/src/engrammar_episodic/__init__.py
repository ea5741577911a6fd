"""Episodic memory for engrammar.

- ``episodic``: a fixed table of ``num_slots`` (key, value) episodes per sample; read heads
  (``readers``) and write heads (``writers``) are chosen by registry name, each with its own
  fields, parameters and state.
- ``long_term``: the same memory with the defaults of a large store read sparsely.
- Read heads (group ``engrammar.readers``): ``content_reader``, ``attention_reader``, ``sparse_reader``.
- Write heads (group ``engrammar.writers``): ``append_writer``, ``usage_writer``, ``surprise_writer``.
- :mod:`.heads`: the head contract a third party's head follows; :mod:`.table`: the table helpers;
  :mod:`.ops`: the sparse read beside its dense oracle.

Build by name (``engrammar.build("episodic", in_features=8, readers=[{"use": "sparse_reader"}])``).
"""

from .episodic import Episodic, EpisodicSpec, LongTerm, LongTermSpec
from .heads import HeadSpec, ReadHead, ReadHeadSpec, Reading, WriteHead
from .table import Table, mask_free_slots, read_rows, write_slot

__all__ = [
    "Episodic",
    "EpisodicSpec",
    "HeadSpec",
    "LongTerm",
    "LongTermSpec",
    "ReadHead",
    "ReadHeadSpec",
    "Reading",
    "Table",
    "WriteHead",
    "mask_free_slots",
    "read_rows",
    "write_slot",
]
