"""The conformance properties. Each is a function ``(make, case) -> None`` that raises
:class:`ConformanceError` naming itself when a component breaks the contract.

``make(dtype)`` builds the component under test with a fixed seed (the same parameters every call)
in the given dtype, in eval mode. ``case`` fixes batch size, length, seed and input generator.

Tolerances are per dtype (:data:`TOLERANCES`): equal-in-meaning paths (chunked vs whole, step vs
forward) must agree to rounding, not exactly, since a fast path may sum in another order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch
from torch import Tensor

from ..component import Component
from ..spec import dump_mapping, parse_mapping, structure, unstructure
from ..state import State, StateEntry, detach_state, flatten_state, select_batch, trim_state

__all__ = ["PROPERTIES", "TOLERANCES", "Case", "ConformanceError", "check_component", "check_property"]

#: (atol, rtol) per dtype for "equal up to rounding".
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-8, 1e-6),
    torch.float32: (1e-4, 1e-3),
}

Maker = Callable[[torch.dtype], Component]
InputMaker = Callable[[int, int, int, torch.Generator, torch.dtype], Tensor]


class ConformanceError(AssertionError):
    """A component broke a property; the message starts with the property's name."""

    def __init__(self, prop: str, detail: str) -> None:
        self.property = prop
        super().__init__(f"[{prop}] {detail}")


@attrs.frozen
class Case:
    """One draw: batch size, sequence length, seed, dtype and (optionally) how to make inputs."""

    batch_size: int = 2
    length: int = 5
    seed: int = 0
    dtype: torch.dtype = torch.float64
    inputs: InputMaker | None = None
    tolerances: Mapping[torch.dtype, tuple[float, float]] = TOLERANCES

    def generator(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1000 + salt)

    def x(self, component: Component, salt: int = 0, *, batch: int | None = None, length: int | None = None) -> Tensor:
        b = self.batch_size if batch is None else batch
        t = self.length if length is None else length
        maker = self.inputs or _gaussian
        return maker(b, t, component.in_features, self.generator(salt), self.dtype)


def _gaussian(batch: int, length: int, width: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    return torch.randn(batch, length, width, generator=generator, dtype=torch.float64).to(dtype)


# --------------------------------------------------------------------------------------------
# helpers


def _close(a: Tensor, b: Tensor, case: Case, dtype: torch.dtype | None = None) -> bool:
    atol, rtol = case.tolerances[dtype or case.dtype]
    if a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    return bool(torch.allclose(a, b, atol=atol, rtol=rtol))


def _max_diff(a: Tensor, b: Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    return float((a.double() - b.double()).abs().max())


def _compare_states(
    prop: str, what: str, a: State, b: State, case: Case, spec: Mapping[str, Any] | None = None
) -> None:
    if spec:  # growing caches are compared by the slots they hold, whatever their lengths
        a, b = trim_state(spec, a), trim_state(spec, b)
    flat_a, flat_b = flatten_state(a), flatten_state(b)
    if flat_a.keys() != flat_b.keys():
        raise ConformanceError(prop, f"{what}: state entries differ: {sorted(flat_a)} vs {sorted(flat_b)}")
    for key in flat_a:
        if not _close(flat_a[key], flat_b[key], case):
            raise ConformanceError(
                prop, f"{what}: state entry {key!r} differs (max abs diff {_max_diff(flat_a[key], flat_b[key]):.3g})"
            )


def _compare_outputs(prop: str, what: str, a: Tensor, b: Tensor, case: Case) -> None:
    if not _close(a, b, case):
        raise ConformanceError(
            prop,
            f"{what}: outputs differ (shapes {tuple(a.shape)} vs {tuple(b.shape)}, max abs diff {_max_diff(a, b):.3g})",
        )


def _warm_state(component: Component, case: Case, salt: int = 99) -> State:
    """A state that is not the initial one: the state after a short random prefix."""
    prefix = case.x(component, salt, length=3)
    with torch.no_grad():
        _, state = component(prefix)
    return state


def _run_steps(component: Component, x: Tensor, state: State, resets: Tensor | None = None) -> tuple[Tensor, State]:
    outputs = []
    for t in range(x.shape[1]):
        reset = None if resets is None else resets[:, t]
        y_t, state = component.step(x[:, t], state, reset)
        outputs.append(y_t)
    return torch.stack(outputs, dim=1), state


# --------------------------------------------------------------------------------------------
# properties


def check_shapes(make: Maker, case: Case) -> None:
    """Outputs have the declared shape (B, T, out_features) and dtype, in forward and in step."""
    component = make(case.dtype)
    x = case.x(component)
    with torch.no_grad():
        y, _ = component(x)
        y_t, _ = component.step(x[:, 0])
    expected = (case.batch_size, case.length, component.out_features)
    if tuple(y.shape) != expected:
        raise ConformanceError("shapes", f"forward output shape {tuple(y.shape)}, declared {expected}")
    if tuple(y_t.shape) != (case.batch_size, component.out_features):
        raise ConformanceError(
            "shapes", f"step output shape {tuple(y_t.shape)}, declared {(case.batch_size, component.out_features)}"
        )
    if y.dtype != case.dtype:
        raise ConformanceError("shapes", f"output dtype {y.dtype} for {case.dtype} inputs")


def _check_state_against_spec(
    where: str, state: Any, spec: Any, batch: int, dtype: torch.dtype, steps: int, path: str = ""
) -> None:
    if not isinstance(state, Mapping):
        raise ConformanceError("state_declared", f"{where}: {path or 'state'} is {type(state).__name__}, not a dict")
    if set(state) != set(spec):
        raise ConformanceError(
            "state_declared", f"{where}: entries {sorted(state)} at {path or 'top'}, declared {sorted(spec)}"
        )
    for key, entry in spec.items():
        value = state[key]
        name = f"{path}{key}"
        if isinstance(entry, Mapping):
            _check_state_against_spec(where, value, entry, batch, dtype, steps, f"{name}.")
            continue
        if not isinstance(value, Tensor):
            raise ConformanceError("state_declared", f"{where}: {name} is {type(value).__name__}, not a tensor")
        counter = spec.get(entry.count) if entry.count is not None else None
        if entry.count is not None and (
            not isinstance(counter, StateEntry) or counter.shape != () or counter.dtype != "int64"
        ):
            raise ConformanceError(
                "state_declared", f"{name} grows, but its count {path}{entry.count} is not an int64 entry of shape ()"
            )
        shape = (batch, *entry.shape_after(steps))
        if tuple(value.shape) != shape:
            raise ConformanceError(
                "state_declared", f"{where}: {name} has shape {tuple(value.shape)}, declared {shape}"
            )
        if value.dtype != entry.resolve_dtype(dtype):
            raise ConformanceError(
                "state_declared", f"{where}: {name} has dtype {value.dtype}, declared {entry.resolve_dtype(dtype)}"
            )


def check_state_declared(make: Maker, case: Case) -> None:
    """init_state, forward and step give states exactly as ``state_spec`` declares them (a growing
    cache at its length after the steps seen)."""
    component = make(case.dtype)
    spec = component.state_spec()
    x = case.x(component)
    batch, length = case.batch_size, case.length
    with torch.no_grad():
        initial = component.init_state(batch, dtype=case.dtype)
        _check_state_against_spec("init_state", initial, spec, batch, case.dtype, 0)
        _, state = component(x)
        _check_state_against_spec("forward", state, spec, batch, case.dtype, length)
        _, state = component.step(x[:, 0], state)
        _check_state_against_spec("step", state, spec, batch, case.dtype, length + 1)


def check_chunking(make: Maker, case: Case) -> None:
    """One call on the whole sequence equals two calls with the state carried between them."""
    component = make(case.dtype)
    x = case.x(component)
    start = _warm_state(component, case)
    split = max(1, case.length // 2)
    with torch.no_grad():
        y, final = component(x, start)
        y1, middle = component(x[:, :split], start)
        y2, final2 = component(x[:, split:], middle)
    _compare_outputs("chunking", f"split at t={split}", torch.cat([y1, y2], dim=1), y, case)
    _compare_states("chunking", f"split at t={split}", final2, final, case)


def check_step_equals_forward(make: Maker, case: Case) -> None:
    """Stepping one time step at a time equals the whole-sequence forward (outputs and state)."""
    component = make(case.dtype)
    x = case.x(component)
    start = _warm_state(component, case)
    with torch.no_grad():
        y, final = component(x, start)
        y_steps, final_steps = _run_steps(component, x, start)
    _compare_outputs("step_equals_forward", "step loop vs forward", y_steps, y, case)
    _compare_states("step_equals_forward", "step loop vs forward", final_steps, final, case)


def check_batch_independence(make: Maker, case: Case) -> None:
    """A sample's outputs do not depend on the other samples of its batch."""
    component = make(case.dtype)
    batch = max(case.batch_size, 2)
    x = case.x(component, batch=batch)
    other = case.x(component, salt=7, batch=batch)
    x_changed = torch.cat([x[:1], other[1:]], dim=0)
    with torch.no_grad():
        y, state = component(x)
        y_changed, state_changed = component(x_changed)
    _compare_outputs("batch_independence", "sample 0 after changing samples 1..", y_changed[:1], y[:1], case)
    _compare_states(
        "batch_independence",
        "sample 0 after changing samples 1..",
        select_batch(state_changed, [0]),
        select_batch(state, [0]),
        case,
    )


def check_causality(make: Maker, case: Case) -> None:
    """Outputs up to step t depend on inputs up to step t only."""
    component = make(case.dtype)
    length = max(case.length, 2)
    x = case.x(component, length=length)
    cut = length // 2
    future = case.x(component, salt=5, length=length)
    x_changed = torch.cat([x[:, :cut], future[:, cut:]], dim=1)
    start = _warm_state(component, case)
    with torch.no_grad():
        y, _ = component(x, start)
        y_changed, _ = component(x_changed, start)
    _compare_outputs(
        "causality", f"outputs before t={cut} after changing inputs from t={cut}", y_changed[:, :cut], y[:, :cut], case
    )


def check_resets(make: Maker, case: Case) -> None:
    """After a reset at step t, a sample's outputs equal a fresh run started at t; step agrees."""
    component = make(case.dtype)
    length = max(case.length, 3)
    batch = max(case.batch_size, 2)
    x = case.x(component, batch=batch, length=length)
    gen = case.generator(11)
    resets = torch.rand(batch, length, generator=gen) < 0.3
    resets[0, length // 2] = True  # at least one reset inside the sequence
    resets[1, :] = False  # and one sample that never resets
    start = _warm_state(component, attrs.evolve(case, batch_size=batch))
    with torch.no_grad():
        y, final = component(x, start, resets)
        y_plain, final_plain = component(x[1:2], select_batch(start, [1]))
        _compare_outputs("resets", "sample without resets vs its own run", y[1:2], y_plain, case)
        _compare_states("resets", "sample without resets vs its own run", select_batch(final, [1]), final_plain, case)
        for b in range(batch):
            times = torch.nonzero(resets[b]).flatten()
            if len(times) == 0:
                continue
            last = int(times[-1])
            y_fresh, final_fresh = component(x[b : b + 1, last:])
            _compare_outputs(
                "resets", f"sample {b} after its reset at t={last} vs a fresh run", y[b : b + 1, last:], y_fresh, case
            )
            _compare_states(
                "resets",
                f"sample {b} after its reset at t={last} vs a fresh run",
                select_batch(final, [b]),
                final_fresh,
                case,
                component.state_spec(),  # a grown cache holds the fresh run's slots, behind padding
            )
        y_steps, final_steps = _run_steps(component, x, start, resets)
    _compare_outputs("resets", "step with resets vs forward with resets", y_steps, y, case)
    _compare_states("resets", "step with resets vs forward with resets", final_steps, final, case)


def check_detach(make: Maker, case: Case) -> None:
    """detach_state keeps every value and stops gradients from flowing into earlier steps."""
    component = make(case.dtype)
    prefix = case.x(component, 3).requires_grad_(True)
    _, state = component(prefix)
    detached = detach_state(state)
    _compare_states("detach", "detached vs original", detached, state, case)
    for key, tensor in flatten_state(detached).items():
        if tensor.requires_grad:
            raise ConformanceError("detach", f"detached state entry {key!r} still requires grad")
    y, _ = component(case.x(component), detached)
    if y.requires_grad:
        y.sum().backward()
    if prefix.grad is not None and bool(prefix.grad.abs().sum() > 0):
        raise ConformanceError("detach", "gradient reached inputs from before the detached state")


def check_gradients(make: Maker, case: Case) -> None:
    """Gradients are finite and reach every parameter (from a loss on the outputs); a component
    without parameters passes finite gradients back to its inputs."""
    component = make(case.dtype)
    component.train()
    length = max(case.length, 3)
    x = case.x(component, length=length).requires_grad_(True)
    _, state = component(case.x(component, 3, length=2))  # a warm state that depends on parameters
    y, _ = component(x, state)
    if not y.requires_grad:
        raise ConformanceError("gradients", "outputs do not depend differentiably on inputs or parameters")
    weights = torch.randn(y.shape, generator=case.generator(13), dtype=torch.float64).to(y.dtype)
    (y * weights).sum().backward()
    if x.grad is not None and not bool(torch.isfinite(x.grad).all()):
        raise ConformanceError("gradients", "the gradient with respect to the inputs is not finite")
    trainable = [(name, p) for name, p in component.named_parameters() if p.requires_grad]
    if not trainable and x.grad is None:
        raise ConformanceError("gradients", "no parameters, and no gradient reaches the inputs")
    for name, param in trainable:
        if param.grad is None:
            raise ConformanceError("gradients", f"parameter {name!r} got no gradient (unused?)")
        if not bool(torch.isfinite(param.grad).all()):
            raise ConformanceError("gradients", f"parameter {name!r} has a non-finite gradient")
        if not bool(param.grad.abs().sum() > 0):
            raise ConformanceError("gradients", f"parameter {name!r} got an all-zero gradient")


def check_gradcheck(make: Maker, case: Case) -> None:
    """float64 finite-difference check of d outputs / d inputs on a tiny case."""
    component = make(torch.float64)
    tiny = attrs.evolve(case, dtype=torch.float64, batch_size=min(case.batch_size, 2), length=min(case.length, 3))
    x = tiny.x(component).requires_grad_(True)
    start = _warm_state(component, tiny)

    def run(inputs: Tensor) -> Tensor:
        return component(inputs, start)[0]

    try:
        ok = torch.autograd.gradcheck(run, (x,), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False)
    except RuntimeError as err:
        raise ConformanceError("gradcheck", f"gradcheck raised: {err}") from None
    if not ok:
        raise ConformanceError("gradcheck", "analytic and numerical gradients differ (float64)")


def check_dtypes(make: Maker, case: Case) -> None:
    """Outputs and floating state follow the component's dtype (float32 and float64)."""
    for dtype in (torch.float32, torch.float64):
        component = make(dtype)
        sub = attrs.evolve(case, dtype=dtype)
        with torch.no_grad():
            y, state = component(sub.x(component))
        if y.dtype != dtype:
            raise ConformanceError("dtypes", f"{dtype} component gave {y.dtype} outputs")
        for key, tensor in flatten_state(state).items():
            if tensor.is_floating_point() and tensor.dtype != dtype:
                raise ConformanceError("dtypes", f"{dtype} component gave state entry {key!r} in {tensor.dtype}")


def check_determinism(make: Maker, case: Case) -> None:
    """Same seed, same parameters; same inputs and state, same outputs."""
    first, second = make(case.dtype), make(case.dtype)
    params_a, params_b = first.state_dict(), second.state_dict()
    if params_a.keys() != params_b.keys():
        raise ConformanceError("determinism", "two builds under one seed have different parameter names")
    for key in params_a:
        if not torch.equal(params_a[key], params_b[key]):
            raise ConformanceError("determinism", f"two builds under one seed differ in {key!r}")
    x = case.x(first)
    with torch.no_grad():
        y1, s1 = first(x)
        y2, s2 = first(x)
    if not torch.equal(y1, y2):
        raise ConformanceError("determinism", "the same call twice gave different outputs")
    _compare_states(
        "determinism", "the same call twice", s1, s2, attrs.evolve(case, tolerances={case.dtype: (0.0, 0.0)})
    )


def check_spec_roundtrip(make: Maker, case: Case) -> None:
    """The spec survives unstructure -> JSON / YAML text -> structure unchanged, and rebuilding from
    it gives the same parameter names and shapes."""
    component = make(case.dtype)
    spec = component.spec
    data = unstructure(spec)
    for suffix in (".json", ".yaml"):
        text = dump_mapping(data, suffix)
        again = structure(parse_mapping(text, suffix), type(spec))
        if again != spec:
            raise ConformanceError("spec_roundtrip", f"spec changed through {suffix}: {again!r} != {spec!r}")
    rebuilt = type(component)(structure(json.loads(json.dumps(data)), type(spec)))
    names = {k: tuple(v.shape) for k, v in component.state_dict().items()}
    names_rebuilt = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if names != names_rebuilt:
        raise ConformanceError("spec_roundtrip", "rebuilding from the spec gave other parameters")


def check_parameter_roundtrip(make: Maker, case: Case) -> None:
    """Parameters saved to safetensors and loaded into a freshly built twin give the same outputs."""
    from safetensors.torch import load as load_bytes
    from safetensors.torch import save as save_bytes

    component = make(case.dtype)
    torch.manual_seed(case.seed + 1)
    twin = type(component)(component.spec).to(case.dtype).eval()
    tensors = {k: v.contiguous() for k, v in component.state_dict().items()}
    try:
        blob = save_bytes(tensors)
    except Exception as err:  # shared storage and friends: a checkpoint could not be written
        raise ConformanceError("parameter_roundtrip", f"parameters cannot be saved as safetensors: {err}") from None
    twin.load_state_dict(load_bytes(blob))
    x = case.x(component)
    with torch.no_grad():
        y, _ = component(x)
        y_twin, _ = twin(x)
    _compare_outputs("parameter_roundtrip", "loaded twin vs original", y_twin, y, case)


PROPERTIES: dict[str, Callable[[Maker, Case], None]] = {
    "shapes": check_shapes,
    "state_declared": check_state_declared,
    "chunking": check_chunking,
    "step_equals_forward": check_step_equals_forward,
    "batch_independence": check_batch_independence,
    "causality": check_causality,
    "resets": check_resets,
    "detach": check_detach,
    "gradients": check_gradients,
    "gradcheck": check_gradcheck,
    "dtypes": check_dtypes,
    "determinism": check_determinism,
    "spec_roundtrip": check_spec_roundtrip,
    "parameter_roundtrip": check_parameter_roundtrip,
}


# --------------------------------------------------------------------------------------------
# no side effects: a call changes nothing on the module (its own registration, for easy merging)


def check_no_side_effects(make: Maker, case: Case) -> None:
    """forward, step and init_state change no attribute, parameter or buffer of the module or its
    submodules (in eval and train mode, with and without a recording open): what a call produces
    besides its output and state goes through ``engrammar.recording``. Opening a recording that
    keeps traces changes no output and no state."""
    from ..recorder import recording
    from .module_snapshot import module_changes, snapshot_module

    component = make(case.dtype)
    length = max(case.length, 2)
    x = case.x(component, length=length)
    resets = torch.zeros(case.batch_size, length, dtype=torch.bool)
    resets[0, length // 2] = True
    with torch.no_grad():
        before = snapshot_module(component)
        warm = _warm_state(component, case)
        changes = module_changes(before, snapshot_module(component))
        if changes:
            raise ConformanceError(
                "no_side_effects",
                f"forward from the initial state (eval mode) changed the module: {'; '.join(changes)}",
            )
        calls: list[tuple[str, Callable[[], tuple[Tensor, State] | State]]] = [
            ("init_state", lambda: component.init_state(case.batch_size, dtype=case.dtype)),
            ("forward from the initial state", lambda: component(x)),
            ("forward from a state", lambda: component(x, warm)),
            ("forward with resets", lambda: component(x, warm, resets)),
            ("step from the initial state", lambda: component.step(x[:, 0])),
            ("step from a state", lambda: component.step(x[:, 0], warm)),
            ("step with a reset", lambda: component.step(x[:, 0], warm, resets[:, length // 2])),
        ]
        outputs: dict[str, Any] = {}
        for training in (False, True):
            component.train(training)
            for recorded in (False, True):
                before = snapshot_module(component)
                for what, call in calls:
                    if recorded:
                        with recording(component, traces=True):
                            result = call()
                    else:
                        result = call()
                    changes = module_changes(before, snapshot_module(component))
                    if changes:
                        where = f"{what} ({'train' if training else 'eval'} mode{', recording' if recorded else ''})"
                        raise ConformanceError("no_side_effects", f"{where} changed the module: {'; '.join(changes)}")
                    if not training:
                        outputs.setdefault(what, []).append(result)
    for what, (plain, recorded_result) in outputs.items():
        if isinstance(plain, tuple):
            _compare_outputs(
                "no_side_effects", f"{what}, inside a recording vs outside", recorded_result[0], plain[0], case
            )
            plain, recorded_result = plain[1], recorded_result[1]
        _compare_states("no_side_effects", f"{what}, inside a recording vs outside", recorded_result, plain, case)


PROPERTIES["no_side_effects"] = check_no_side_effects


def make_maker(component: Any, spec: Mapping[str, Any] | None = None, seed: int = 0) -> Maker:
    """A maker for a registry name, a Component class or a factory ``(**spec) -> Component``."""
    from ..registry import build

    fields = dict(spec or {})

    def make(dtype: torch.dtype) -> Component:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if isinstance(component, str):
                built = build(component, **fields)
            else:
                built = component(**fields)
        return built.to(dtype).eval()

    return make


def check_property(name: str, component: Any, spec: Mapping[str, Any] | None = None, case: Case | None = None) -> None:
    """Run one property (by name) on a component; raises :class:`ConformanceError` on failure."""
    if name not in PROPERTIES:
        raise KeyError(f"unknown property {name!r}; properties: {', '.join(PROPERTIES)}")
    case = case or Case()
    PROPERTIES[name](make_maker(component, spec, case.seed), case)


def check_component(
    component: Any, spec: Mapping[str, Any] | None = None, case: Case | None = None, skip: tuple[str, ...] = ()
) -> list[ConformanceError]:
    """Run every property once; return the failures (empty when the component conforms)."""
    failures = []
    for name in PROPERTIES:
        if name in skip:
            continue
        try:
            check_property(name, component, spec, case)
        except ConformanceError as err:
            failures.append(err)
    return failures
