"""The read kernels on their own: the dense top-k read written the obvious way (the oracle) and the
sparse path that gathers only the k rows it reads."""

from .sparse_read import sparse_read, sparse_read_naive

__all__ = ["sparse_read", "sparse_read_naive"]
