"""Named inputs of combinators (``residual_gate``'s path and bypass, ``moe``'s router and experts).

A component that takes several distinct inputs declares them, in order, as ``input_ports``: a port
marked ``ONE`` takes a reference or a list of them (concatenated), a port marked ``MANY`` takes a
list whose items are separate inputs. In a wiring each port is a field of the node::

    gate: {use: residual_gate, path: mem, bypass: x}
    mix:  {use: moe, router: ctrl, experts: [mem_a, mem_b], top_k: 1}

The component receives its inputs concatenated in port order and their widths in the spec field
``input_sizes`` (both inferred by the wiring). Ports listed in ``same_width`` must all have one
width; the wiring reports a mismatch at the offending field.

A port may be written as a mapping ``{in: <references>, ...}`` when the component's spec has a
field named like the port: ``in`` is the port's input and the rest is that field's value (``moe``'s
``router: {use: topk_router, in: ctrl, top_k: 1}`` names the router that reads ``ctrl``).
"""

from __future__ import annotations

from torch import Tensor

from ..spec import ComponentSpec, field, spec

__all__ = ["MANY", "ONE", "MultiInputSpec", "split_inputs"]

ONE = "one"
MANY = "many"


def _check_sizes(instance: MultiInputSpec, attribute: object, value: tuple[int, ...] | None) -> None:
    if value is None:
        return
    if not value or any(size < 1 for size in value):
        raise ValueError(f"input_sizes must be widths >= 1, got {value!r}")
    if instance.in_features is not None and sum(value) != instance.in_features:
        raise ValueError(f"input_sizes {value!r} must add up to in_features {instance.in_features}")


@spec
class MultiInputSpec(ComponentSpec):
    """Spec fields of a component with several inputs."""

    input_sizes: tuple[int, ...] | None = field(
        default=None,
        validator=_check_sizes,
        doc="width of each input, in port order (inferred inside a wiring)",
    )


def split_inputs(x: Tensor, sizes: tuple[int, ...]) -> tuple[Tensor, ...]:
    """The concatenated inputs ``x`` (..., sum(sizes)) split back along the last dimension."""
    return tuple(x.split(list(sizes), dim=-1))
