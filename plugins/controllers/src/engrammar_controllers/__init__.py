"""Controllers for engrammar: ``lstm``, ``gru``, ``mlp`` and ``transformer``.

Build them by name (``engrammar.build("lstm", in_features=8, hidden_size=64)``) or use them in a
wiring; importing this package is not needed.
"""

__version__ = "0.1.0"
