"""AdamW8bit: the float32 reference is PyTorch's AdamW; the 8-bit optimizer tracks it closely with a
quarter of the state; its state resumes exactly; its moments can be reset and carried over."""

from __future__ import annotations

import pytest
import torch
from engrammar.nn.growth import Resized
from engrammar.spec import SpecError
from engrammar_train import load_checkpoint, save_checkpoint
from engrammar_tricks import AdamW8bit, AdamW8bitTrick, state_bytes
from engrammar_tricks.adamw8bit.naive import adamw_reference
from engrammar_tricks.adamw8bit.trick import bitsandbytes_available

SETTINGS = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05)


def _problem(
    seed: int = 0, shapes=((64, 96), (96,)), spread: float = 4.0
) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Starting values and 12 steps of gradients whose scales differ across entries by up to
    10^spread (mixed inside every block: the hard case for block-wise quantisation)."""
    generator = torch.Generator().manual_seed(seed)
    start = [torch.randn(shape, generator=generator) for shape in shapes]
    scales = [
        torch.logspace(-spread, 0, s.numel())[torch.randperm(s.numel(), generator=generator)].view(s.shape)
        for s in start
    ]
    grads = [[torch.randn(s.shape, generator=generator) * scale for s, scale in zip(start, scales)] for _ in range(12)]
    return start, grads


def _off_course(params, start, grads) -> list[float]:
    """How far each parameter ended from the float32 reference, relative to how far it moved."""
    reference = adamw_reference(start, grads, **SETTINGS)
    return [float((p.detach() - r).norm() / (r - s).norm()) for p, r, s in zip(params, reference, start)]


def _train(optimizer_cls, start, grads, **kwargs) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    params = [torch.nn.Parameter(s.clone()) for s in start]
    optimizer = optimizer_cls(params, **{**SETTINGS, **kwargs})
    for step in grads:
        for param, grad in zip(params, step):
            param.grad = grad.clone()
        optimizer.step()
    return params, optimizer


def test_the_reference_is_pytorchs_adamw() -> None:
    start, grads = _problem()
    torch_params, _ = _train(torch.optim.AdamW, start, grads)
    reference = adamw_reference(start, grads, **SETTINGS)
    for a, b in zip(torch_params, reference):
        torch.testing.assert_close(a.detach(), b, rtol=1e-5, atol=1e-6)


def test_float32_moments_for_small_parameters_equal_the_reference() -> None:
    start, grads = _problem()
    params, optimizer = _train(AdamW8bit, start, grads, min_8bit_size=10**9)
    for a, b in zip(params, adamw_reference(start, grads, **SETTINGS)):
        torch.testing.assert_close(a.detach(), b, rtol=1e-5, atol=1e-6)
    assert all("exp_avg" in state for state in optimizer.state.values())


@pytest.mark.parametrize(("spread", "within"), [(0.0, 0.02), (4.0, 0.12)])
def test_eight_bit_moments_track_the_reference_closely(spread: float, within: float) -> None:
    start, grads = _problem(spread=spread)
    params, optimizer = _train(AdamW8bit, start, grads, min_8bit_size=0)
    assert max(_off_course(params, start, grads)) < within  # measured: 0.013 and 0.08-0.11
    state = optimizer.state[params[0]]
    assert state["exp_avg_codes"].dtype == torch.uint8 and state["exp_avg_sq_codes"].shape == (64 * 96,)
    assert state["exp_avg_absmax"].shape == (24,)  # 6144 entries in blocks of 256


def test_the_state_is_about_a_quarter_of_adamws() -> None:
    start, grads = _problem(shapes=((256, 256), (256,)))
    _, full = _train(torch.optim.AdamW, start, grads[:1])
    _, small = _train(AdamW8bit, start, grads[:1])  # the bias (256 entries) keeps float32 moments
    ratio = state_bytes(small) / state_bytes(full)
    assert 0.25 < ratio < 0.27


def test_the_state_resumes_exactly_through_a_checkpoint(tmp_path) -> None:
    start, grads = _problem()
    straight, _ = _train(AdamW8bit, start, grads, min_8bit_size=1000)
    params, optimizer = _train(AdamW8bit, start, grads[:5], min_8bit_size=1000)
    save_checkpoint(
        tmp_path / "c.safetensors", {"optimizer": optimizer.state_dict(), "params": [p.detach() for p in params]}
    )
    saved = load_checkpoint(tmp_path / "c.safetensors")
    resumed = [torch.nn.Parameter(p.clone()) for p in saved["params"]]
    optimizer = AdamW8bit(resumed, **SETTINGS, min_8bit_size=1000)
    optimizer.load_state_dict(saved["optimizer"])
    assert optimizer.state[resumed[0]]["exp_avg_codes"].dtype == torch.uint8
    for step in grads[5:]:
        for param, grad in zip(resumed, step):
            param.grad = grad.clone()
        optimizer.step()
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)


def test_moments_are_reset_where_asked_and_carried_over_to_a_larger_parameter() -> None:
    start, grads = _problem(shapes=((64, 96),))
    params, optimizer = _train(AdamW8bit, start, grads[:3], min_8bit_size=0)
    param = params[0]
    first, _ = optimizer.moments(param)
    mask = torch.zeros(64, 96, dtype=torch.bool)
    mask[::3] = True
    optimizer.reset_state_entries(param, mask)
    after_first, after_second = optimizer.moments(param)
    assert torch.all(after_first[mask] == 0) and torch.all(after_second[mask] == 0)
    torch.testing.assert_close(after_first[~mask], first[~mask], rtol=0.08, atol=1e-3 * float(first.abs().max()))

    wider = torch.nn.Parameter(torch.zeros(66, 96))
    rows = torch.arange(64) + 1  # the old rows sit at 1..64 of 66
    resized = Resized("w", param, wider, (rows, torch.arange(96)))
    optimizer.param_groups[0]["params"][0] = wider
    optimizer.state[wider] = optimizer.resize_state(optimizer.state.pop(param), resized)
    grown_first, _ = optimizer.moments(wider)
    assert torch.all(grown_first[0] == 0) and torch.all(grown_first[65] == 0)
    torch.testing.assert_close(grown_first[1:65], after_first, rtol=0.08, atol=1e-3 * float(first.abs().max()))
    assert float(optimizer.state[wider]["step"]) == 3


def test_the_trick_builds_the_chosen_backend() -> None:
    params = [torch.nn.Parameter(torch.randn(8, 8))]
    assert isinstance(AdamW8bitTrick().make(params, 1e-3, (0.9, 0.999), 0.0), AdamW8bit)
    assert AdamW8bitTrick(backend="auto").backend_for(params) == "torch"  # CPU parameters
    with pytest.raises(SpecError, match=r"^adamw8bit\.block_size: bitsandbytes uses its own block size"):
        AdamW8bitTrick(backend="bitsandbytes", block_size=128)
    with pytest.raises(SpecError, match=r"^adamw8bit\.backend: must be one of"):
        AdamW8bitTrick(backend="apex")


@pytest.mark.skipif(not bitsandbytes_available(), reason="bitsandbytes is not installed")
def test_the_bitsandbytes_backend_tracks_the_reference_too() -> None:
    start, grads = _problem(spread=0.0)
    params = [torch.nn.Parameter(s.clone()) for s in start]
    trick = AdamW8bitTrick(backend="bitsandbytes", min_8bit_size=0)
    optimizer = trick.make(params, SETTINGS["lr"], SETTINGS["betas"], SETTINGS["weight_decay"])
    assert type(optimizer).__module__.startswith("bitsandbytes")
    for step in grads:
        for param, grad in zip(params, step):
            param.grad = grad.clone()
        optimizer.step()
    assert max(_off_course(params, start, grads)) < 0.02
