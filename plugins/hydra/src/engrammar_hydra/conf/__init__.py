"""The shipped config tree (package data; Hydra finds it as a module)."""
