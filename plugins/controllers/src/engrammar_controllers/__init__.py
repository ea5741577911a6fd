"""Controllers for engrammar: ``lstm``, ``gru``, ``mlp`` and ``transformer``.

Build them by name (``engrammar.build("lstm", in_features=8, hidden_size=64)``) or use them in a
wiring; importing this package is not needed.
"""

from importlib.metadata import version as _version

__version__ = _version("engrammar-controllers")  # the release version, set once in core (CHANGELOG.md)
