"""``python -m engrammar_hydra``: the ``engrammar-hydra`` command."""

from engrammar_hydra.app import main

main()
