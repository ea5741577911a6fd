"""Algorithmic tasks for engrammar, found by name (``engrammar.build("copy", bits=8)``) through the
``engrammar.tasks`` entry points: ``copy``, ``repeat_copy``, ``associative_recall``, ``mqar``,
``parity``, ``priority_sort``, ``n_back``, ``xor``, ``sine``, ``babi_like`` (and ``antipodal``).

Every task draws batches with the ``torch.Generator`` it is given and nothing else, with tensor
operations only (no Python loop over samples or time steps), so a seed fixes the data.
"""

__version__ = "0.1.0"
