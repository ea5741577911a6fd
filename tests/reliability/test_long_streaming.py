"""Long streaming: every first-party memory and controller stepped many times on random inputs.

No NaN or inf appears, the state's norm stays bounded, and memory use is flat: after a warm-up the
number of live Python objects and tensors does not grow (a growing cache stops at its cap). Steps:
1,000 under the CI profile, 100,000 under ``engrammar-thorough`` (``nox -s reliability-thorough``),
which also prints the largest state norm seen per component.

The weights are those a component is built with (random initialisation), not trained ones.
"""

from __future__ import annotations

import gc
import math
import warnings

import engrammar
import pytest
import torch
from engrammar.first_party import PROVIDERS
from engrammar.registry import components
from engrammar.state import flatten_state
from engrammar.testing.profiles import THOROUGH, selected_profile

STEPS = 100_000 if selected_profile() == THOROUGH else 1_000
BATCH, WIDTH = 4, 8
#: the largest state norm per sample accepted as "bounded" for inputs of unit scale
NORM_LIMIT = 1e4

#: fields that keep a component small, or cap what grows
SMALL = {
    "kv_attention": {"max_length": 64},
    "attention_memory": {"max_length": 64},
    "transformer": {"window": 64},
}


def streamed() -> list[str]:
    first_party = {name for names in PROVIDERS.values() for name in names}
    infos = [info for info in components() if info.kind in ("memories", "controllers")]
    return sorted({info.name for info in infos if info.name in first_party or info.distribution == "engrammar"})


def live_objects() -> tuple[int, int]:
    gc.collect()
    objects = gc.get_objects()
    with warnings.catch_warnings():  # isinstance on torch's deprecated aliases warns
        warnings.simplefilter("ignore")
        return len(objects), sum(1 for o in objects if isinstance(o, torch.Tensor))


@pytest.mark.parametrize("name", streamed())
def test_a_long_stream_stays_finite_bounded_and_flat(name: str) -> None:
    torch.manual_seed(0)
    try:
        component = engrammar.build(name, in_features=WIDTH, **SMALL.get(name, {}))
    except TypeError as err:  # fields a component needs and the table above lacks
        pytest.fail(f"{name}: add its small settings to SMALL ({err})")
    component.eval()
    generator = torch.Generator().manual_seed(1)
    state = component.init_state(BATCH)
    largest = 0.0
    counts: list[tuple[int, int]] = []
    warm_up = min(STEPS // 4, 500)
    with torch.no_grad():
        for step in range(STEPS):
            x_t = torch.randn(BATCH, WIDTH, generator=generator)
            y_t, state = component.step(x_t, state)
            if step % 97 == 0 or step == STEPS - 1:
                assert torch.isfinite(y_t).all(), f"{name}: non-finite output at step {step}"
                for key, tensor in flatten_state(state).items():
                    if tensor.is_floating_point():
                        assert torch.isfinite(tensor).all(), f"{name}: non-finite state {key} at step {step}"
                norm = max(  # counters (a slot's age, a cache's position) grow by design: floats only
                    (
                        t.reshape(BATCH, -1).norm(dim=1).max().item()
                        for t in flatten_state(state).values()
                        if t.is_floating_point()
                    ),
                    default=0.0,
                )
                largest = max(largest, norm)
            if step in (warm_up, STEPS - 1):
                counts.append(live_objects())
    assert math.isfinite(largest) and largest < NORM_LIMIT, f"{name}: state norm reached {largest:.3g}"
    (objects_then, tensors_then), (objects_now, tensors_now) = counts
    assert tensors_now <= tensors_then, f"{name}: live tensors grew from {tensors_then} to {tensors_now}"
    assert objects_now <= objects_then + 50, f"{name}: live objects grew from {objects_then} to {objects_now}"
    print(f"{name}: {STEPS} steps, largest state norm per sample {largest:.4g}")
