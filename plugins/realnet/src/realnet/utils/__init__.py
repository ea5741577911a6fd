"""``realnet.utils``: data helpers, checkpoints (realstore), neurogenesis."""
