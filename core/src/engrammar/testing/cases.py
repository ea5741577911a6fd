"""Ready-made test cases a memory author runs in one line each, beside ``conformance_tests``.

    from engrammar.testing import feedback_conformance_tests, read_out_tests, trace_plot_tests

    # the conformance suite on the memory inside a loop: a controller fed its reads one step late
    TestMyMemoryFeedback = feedback_conformance_tests("my_memory", specs=[{"memory_size": 4}])

    # normalization, dropout and pass_through do what they say (a memory using engrammar.nn.ReadOut)
    TestMyMemoryReadOut = read_out_tests("my_memory", {"in_features": 5, "memory_size": 4})

    # the plot function writes one PNG per view, refuses an empty trace, says what to install;
    # traced_run(**fields) returns record.trace(mem) of a run inside engrammar.recording(mem, traces=True)
    TestMyMemoryPlots = trace_plot_tests(plot_trace, record=traced_run, views=["weights", "gates"])

Each returns a pytest class (collected because its name is bound to ``Test...``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..component import Component

__all__ = ["feedback_conformance_tests", "feedback_wiring", "read_out_tests", "trace_plot_tests"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def feedback_wiring(
    memory: str,
    memory_fields: Mapping[str, Any] | None = None,
    *,
    in_features: int = 3,
    controller: str = "linear",
    controller_fields: Mapping[str, Any] | None = None,
    out_features: int = 2,
) -> Component:
    """A memory driven by a controller that sees the input and the memory's output one step earlier
    (the edge ``mem@-1``), with a linear head on [controller, memory]: the loop a DNC or an NTM
    lives in. The graph runs step-major. ``controller`` is a registry name (core's ``linear`` by
    default, so the case needs nothing but core and the memory); ``controller_fields`` default to
    ``{"out_features": 6}`` for ``linear``.

    x (B, T, in_features) -> (B, T, out_features).
    """
    from ..registry import build

    fields = dict(controller_fields) if controller_fields is not None else {"out_features": 6}
    return build(
        {
            "name": "feedback_" + re.sub(r"\W", "_", memory),
            "in_features": in_features,
            "nodes": {
                "ctrl": {"use": controller, **fields, "in": ["x", "mem@-1"]},
                "mem": {"use": memory, **dict(memory_fields or {}), "in": "ctrl"},
                "head": {"use": "linear", "out_features": out_features, "in": ["ctrl", "mem"]},
            },
            "out": "head",
        }
    )


def feedback_conformance_tests(
    memory: str,
    *,
    specs: Sequence[Mapping[str, Any]] | None = None,
    controller: str = "linear",
    controller_fields: Mapping[str, Any] | None = None,
    **options: Any,
) -> type:
    """``conformance_tests`` on :func:`feedback_wiring` around ``memory``: every property, with the
    memory's spec fields drawn from ``specs`` and the graph's input width from the usual strategy.
    ``options`` go to :func:`engrammar.testing.conformance_tests` (``skip``, ``tolerances``, ...)."""
    from .suite import conformance_tests

    def build_loop(in_features: int = 3, **memory_fields: Any) -> Component:
        return feedback_wiring(
            memory,
            memory_fields,
            in_features=in_features,
            controller=controller,
            controller_fields=controller_fields,
        )

    build_loop.__name__ = f"feedback_{memory}"
    return conformance_tests(build_loop, specs=specs, **options)


def trace_plot_tests(
    plot: Callable[..., list[Path]],
    record: Callable[..., Any],
    *,
    views: Sequence[str],
    specs: Sequence[Mapping[str, Any]] = ({},),
) -> type:
    """A pytest class checking a plugin's trace plots.

    ``plot(trace, out_dir, *, sample, prefix)`` writes ``<prefix>_<view>.png`` for each of
    ``views``, in that order, and returns the paths. ``record(**fields)`` runs a small component
    built with ``fields`` (one dict of ``specs`` each) on a batch of at least two sequences inside
    ``engrammar.recording(component, traces=True)`` and returns the trace it reported,
    ``record.trace(component)`` (a mapping of stacked tensors (B, T, ...); an object with
    ``stacked()`` also works). Checks: every view written, as PNG, for each spec; an empty trace and
    a sample outside the batch are refused by name; without matplotlib the error says what to
    install.
    """
    views = list(views)
    specs = [dict(spec) for spec in specs]
    if not views or not specs:
        raise ValueError("trace_plot_tests needs at least one view and one spec")

    def test_writes_one_png_per_view(self: Any, fields: dict[str, Any], tmp_path: Path) -> None:
        import pytest

        pytest.importorskip("matplotlib")
        paths = plot(record(**fields), tmp_path, sample=1, prefix="mem")
        assert [Path(p).name for p in paths] == [f"mem_{view}.png" for view in views]
        for path in paths:
            assert Path(path).read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"

    def test_refuses_an_empty_trace(self: Any, tmp_path: Path) -> None:
        import pytest

        with pytest.raises(ValueError, match="empty"):
            plot({}, tmp_path, sample=0, prefix="mem")
        assert not list(tmp_path.glob("*.png"))

    def test_refuses_a_sample_outside_the_batch(self: Any, tmp_path: Path) -> None:
        import pytest

        trace = record(**specs[0])
        stacked = trace.stacked() if callable(getattr(trace, "stacked", None)) else trace
        batch = next(iter(stacked.values())).shape[0]
        with pytest.raises(IndexError, match=f"sample {batch} is out of range"):
            plot(trace, tmp_path, sample=batch, prefix="mem")

    def test_without_matplotlib_says_what_to_install(self: Any, tmp_path: Path, monkeypatch: Any) -> None:
        import pytest

        trace = record(**specs[0])
        for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
        with pytest.raises(ImportError, match="pip install"):
            plot(trace, tmp_path, sample=0, prefix="mem")

    import pytest

    ids = [",".join(f"{k}={v}" for k, v in spec.items()) or "default" for spec in specs]
    namespace: dict[str, Any] = {
        "__doc__": f"Trace plots of {getattr(plot, '__module__', 'a plugin')}: {', '.join(views)}.",
        "__test__": True,
        "test_writes_one_png_per_view": pytest.mark.parametrize("fields", specs, ids=ids)(test_writes_one_png_per_view),
        "test_refuses_an_empty_trace": test_refuses_an_empty_trace,
        "test_refuses_a_sample_outside_the_batch": test_refuses_a_sample_outside_the_batch,
        "test_without_matplotlib_says_what_to_install": test_without_matplotlib_says_what_to_install,
    }
    return type("TracePlots", (), namespace)


def _build_seeded(component: Any, fields: Mapping[str, Any]) -> Component:
    """``component`` (a registry name, a class or a factory) built with ``fields`` under seed 0, in
    float64 and eval mode: two builds differing only in read-out options share their parameters."""
    import torch

    from ..registry import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        built = build(component, **fields) if isinstance(component, str) else component(**fields)
    return built.double().eval()


def read_out_tests(component: Any, spec: Mapping[str, Any]) -> type:
    """A pytest class checking the read-out options of a memory built on :class:`engrammar.nn.ReadOut`:
    ``normalization`` layer-norms the reads, ``pass_through`` appends the input after them, and
    ``dropout`` acts in training only. ``spec`` (with ``in_features``) is the base; each test sets
    one option and compares with the base built under the same seed."""
    base = dict(spec)
    if "in_features" not in base:
        raise ValueError("read_out_tests needs in_features in the spec")

    def inputs() -> Any:
        import torch

        generator = torch.Generator().manual_seed(1)
        return torch.randn(3, 4, base["in_features"], generator=generator, dtype=torch.float64)

    def test_normalization_layer_norms_the_reads(self: Any) -> None:
        import torch

        x = inputs()
        plain, _ = _build_seeded(component, base)(x)
        normed, _ = _build_seeded(component, {**base, "normalization": True})(x)
        torch.testing.assert_close(normed, torch.nn.functional.layer_norm(plain, (plain.shape[-1],)))
        assert not torch.allclose(plain.mean(-1), torch.zeros_like(plain[..., 0]), atol=1e-6), "reads already centred"

    def test_pass_through_appends_the_input(self: Any) -> None:
        import torch

        x = inputs()
        plain_component = _build_seeded(component, base)
        passing = _build_seeded(component, {**base, "pass_through": True})
        assert passing.out_features == plain_component.out_features + base["in_features"]
        y, _ = passing(x)
        width = plain_component.out_features
        torch.testing.assert_close(y[..., :width], plain_component(x)[0])
        assert torch.equal(y[..., width:], x)

    def test_dropout_acts_in_training_only(self: Any) -> None:
        import torch

        x = inputs()
        reference, _ = _build_seeded(component, base)(x)
        dropping = _build_seeded(component, {**base, "dropout": 0.5})
        torch.testing.assert_close(dropping(x)[0], reference)  # eval mode: no dropout
        dropping.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            y, _ = dropping(x)
        dropped = y == 0
        assert dropped.any() and (~dropped).any(), "dropout 0.5 should drop some reads and keep others"
        torch.testing.assert_close(y[~dropped], 2 * reference[~dropped])

    label = component if isinstance(component, str) else getattr(component, "__name__", "component")
    return type(
        f"ReadOut[{label}]",
        (),
        {
            "__doc__": f"Read-out options of {label}.",
            "__test__": True,
            "test_normalization_layer_norms_the_reads": test_normalization_layer_norms_the_reads,
            "test_pass_through_appends_the_input": test_pass_through_appends_the_input,
            "test_dropout_acts_in_training_only": test_dropout_acts_in_training_only,
        },
    )
