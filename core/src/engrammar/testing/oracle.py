"""Checking a fast path against its naive oracle, in values and in gradients.

    fast = memory_step(state, interface)                 # outputs: tensors, or nested tuples/dicts of them
    slow = naive_memory_step(state, interface)
    assert_matches_oracle(fast, slow, wrt=[memory, keys, ...])

Gradients are compared through one random linear functional of all outputs (a fixed-seed probe
per output): a single backward pass per path that involves every output and every input of ``wrt``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["assert_matches_oracle", "tensor_leaves"]


def tensor_leaves(tree: Any) -> Iterator[Tensor]:
    """The tensors of a nested structure of dicts, tuples and lists, in order (None skipped)."""
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from tensor_leaves(value)
    elif isinstance(tree, (tuple, list)):
        for value in tree:
            yield from tensor_leaves(value)
    elif tree is not None:
        raise TypeError(f"expected tensors in dicts, tuples or lists, got {type(tree).__name__}")


def assert_matches_oracle(
    fast: Any,
    oracle: Any,
    wrt: Sequence[Tensor],
    *,
    atol: float = 1e-10,
    rtol: float = 1e-10,
    grad_atol: float = 1e-9,
    grad_rtol: float = 1e-9,
    seed: int = 0,
    nonzero_gradients: bool = False,
) -> None:
    """Assert that ``fast`` and ``oracle`` (the outputs of two paths, same structure) are equal up to
    ``atol``/``rtol``, and that the gradients with respect to every tensor of ``wrt`` (which both
    paths were computed from) are equal up to ``grad_atol``/``grad_rtol``. Raises
    ``AssertionError`` naming the output or input that differs. Use float64 for tight tolerances.
    With ``nonzero_gradients``, every input of ``wrt`` must also get a gradient that is not all
    zero (so that agreeing zeros cannot pass for agreement).
    """
    fast_outputs, oracle_outputs = list(tensor_leaves(fast)), list(tensor_leaves(oracle))
    if len(fast_outputs) != len(oracle_outputs):
        raise AssertionError(f"the fast path gave {len(fast_outputs)} tensors, the oracle {len(oracle_outputs)}")
    for index, (a, b) in enumerate(zip(fast_outputs, oracle_outputs)):
        _assert_close(a, b, atol, rtol, f"output {index}")
    generator = torch.Generator().manual_seed(seed)
    probes = [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o.dtype) for o in fast_outputs]
    differentiable = [i for i, o in enumerate(fast_outputs) if o.requires_grad]
    if not differentiable:
        raise AssertionError("no output of the fast path requires grad: mark the inputs in wrt with requires_grad_()")

    def gradients(outputs: list[Tensor]) -> list[Tensor]:
        total = torch.stack([(outputs[i] * probes[i]).sum() for i in differentiable]).sum()
        # retain_graph: the same fast outputs may be checked against a second oracle
        found = torch.autograd.grad(total, list(wrt), allow_unused=True, retain_graph=True)
        return [torch.zeros_like(x) if g is None else g for g, x in zip(found, wrt)]  # None: no path

    for index, (a, b) in enumerate(zip(gradients(fast_outputs), gradients(oracle_outputs))):
        if nonzero_gradients and not bool(a.abs().sum() > 0):
            raise AssertionError(f"gradient of input {index}: all zero, nothing reaches it")
        _assert_close(a, b, grad_atol, grad_rtol, f"gradient of input {index}")


def _assert_close(actual: Tensor, expected: Tensor, atol: float, rtol: float, what: str) -> None:
    def message(detail: str) -> str:
        return f"{what}: {detail}"

    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol, msg=message)
