"""Algorithmic tasks for engrammar, found by name (``engrammar.build("copy", bits=8)``) through the
``engrammar.tasks`` entry points: ``copy``, ``repeat_copy``, ``associative_recall``, ``mqar``,
``parity``, ``priority_sort``, ``n_back``, ``xor``, ``sine``, ``babi_like`` (and ``antipodal``).

Every task draws batches with the ``torch.Generator`` it is given and nothing else, with tensor
operations only (no Python loop over samples or time steps), so a seed fixes the data.
"""

from importlib.metadata import version as _version

__version__ = _version("engrammar-tasks")  # the release version, set once in core (CHANGELOG.md)
