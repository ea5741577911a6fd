"""Gate plots from a trace: when does the seam gate open, and is it open at regime switches?

- :class:`GateActivationHook` collects the seam gate g (B, T) of every gated unit in a model
  (``gated_delta_rnn``, ``z2_seam``, and the parity energy of ``z2_seam``) from its forward,
  through engrammar's recorder; :func:`seam_gates` runs a model once and returns the gates.
- :func:`gate_statistics`: the gate at switches (the first ``window`` steps from a switch on)
  against the other steps, with Welch's t-test (unequal variances).
- :func:`plot_gate_heatmap`, :func:`plot_gate_statistics` and
  :func:`plot_parity_energy_trajectory` draw figures (and write PNG files), with the seed's
  signatures: tensors or NumPy arrays, (T,) or (B, T).

Command line, for a run folder written by ``engrammar train`` on ``antipodal``::

    python -m engrammar_gated_delta.plots RUN_FOLDER --out FOLDER [--batch 16] [--seed 1]

matplotlib (through core's :mod:`engrammar.nn.plotting`) and scipy (for the p-value) are imported
only when used.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from engrammar.nn.plotting import new_figure, save_figure
from torch import Tensor, nn

from .gate_hook import GateActivationHook
from .z2_seam import K_STAR

__all__ = [
    "GateActivationHook",
    "gate_statistics",
    "load_run",
    "plot_gate_heatmap",
    "plot_gate_statistics",
    "plot_parity_energy_trajectory",
    "regime_switches",
    "seam_gates",
    "welch_t_test",
]


def seam_gates(model: nn.Module, inputs: Tensor, resets: Tensor | None = None) -> dict[str, Tensor]:
    """Run ``model`` on ``inputs`` (B, T, in) and return ``{unit name: gate (B, T)}`` for every
    gated unit inside it (``gated_delta_rnn``, ``z2_seam``; ``"model"`` for the model itself), as
    the units report them through the recorder (:class:`GateActivationHook`)."""
    return _traced(model, inputs, resets).gate_activations


def _traced(model: nn.Module, inputs: Tensor, resets: Tensor | None) -> GateActivationHook:
    with torch.no_grad(), GateActivationHook(model) as hook:
        model(inputs, None, resets)
    return hook


def regime_switches(regimes: Tensor) -> Tensor:
    """(B, T) regime labels -> (B, T) bool, true at the steps where the regime just changed."""
    switches = torch.zeros_like(regimes, dtype=torch.bool)
    switches[:, 1:] = regimes[:, 1:] != regimes[:, :-1]
    return switches


def welch_t_test(a: Tensor, b: Tensor) -> dict[str, float]:
    """Welch's t-test for different means with unequal variances: t, degrees of freedom, and the
    two-sided p-value (scipy's Student t, when scipy is installed; NaN otherwise)."""
    a, b = a.double().flatten(), b.double().flatten()
    var_a, var_b = a.var(unbiased=True) / a.numel(), b.var(unbiased=True) / b.numel()
    t = float((a.mean() - b.mean()) / (var_a + var_b).sqrt())
    df = float((var_a + var_b) ** 2 / (var_a**2 / (a.numel() - 1) + var_b**2 / (b.numel() - 1)))
    try:
        from scipy import stats

        p = float(2 * stats.t.sf(abs(t), df))
    except ImportError:  # the statistic stands without the p-value
        p = math.nan
    return {"t": t, "df": df, "p": p}


def gate_statistics(gates: Tensor, switches: Tensor, window: int = 1) -> dict[str, float]:
    """Gate values at switches vs stable steps. gates (B, T); switches (B, T) bool, true where the
    regime just changed; the first ``window`` steps from each switch on count as "at switch"."""
    near = _near(switches, window)
    at_switch, stable = gates[near], gates[~near]
    if at_switch.numel() < 2 or stable.numel() < 2:
        raise ValueError("need at least two steps at switches and two stable steps")
    return {
        "mean_at_switch": float(at_switch.mean()),
        "std_at_switch": float(at_switch.std()),
        "count_at_switch": float(at_switch.numel()),
        "mean_stable": float(stable.mean()),
        "std_stable": float(stable.std()),
        "count_stable": float(stable.numel()),
        **welch_t_test(at_switch, stable),
    }


Values = Tensor | Any  # a tensor, a NumPy array or a nested list


def _rows(values: Values, name: str) -> Tensor:
    """(T,) or (B, T) values as a float (B, T) tensor on the CPU."""
    tensor = torch.as_tensor(values).detach().cpu()
    if tensor.dim() == 1:
        tensor = tensor[None]
    if tensor.dim() != 2:
        raise ValueError(f"{name}: expected (T,) or (B, T) values, got shape {tuple(tensor.shape)}")
    return tensor.float()


def _mask(values: Values | None, like: Tensor, name: str) -> Tensor | None:
    """A (T,) or (B, T) mask as a (B, T) bool tensor shaped like ``like`` ((T,) is shared by all rows)."""
    if values is None:
        return None
    mask = _rows(values, name) != 0
    if mask.shape[1] != like.shape[1] or mask.shape[0] not in (1, like.shape[0]):
        raise ValueError(f"{name}: shape {tuple(mask.shape)} does not match the gates' {tuple(like.shape)}")
    return mask.expand_as(like)


def _positive(regimes: Tensor) -> Tensor:
    """Regime labels in {0, 1} or {−1, +1} -> true where the regime is the positive one."""
    return regimes > (0.0 if bool((regimes < 0).any()) else 0.5)


def _finish(fig: Any, save_path: str | Path | None) -> Any:
    if save_path is not None:
        save_figure(fig, save_path, dpi=110)
    return fig


def plot_gate_heatmap(
    gate_activations: Values,
    save_path: str | Path | None = None,
    *,
    regime_sequence: Values | None = None,
    transition_mask: Values | None = None,
    time_range: tuple[int, int] | None = None,
    title: str = "seam gate over time",
) -> Any:
    """Heatmap of the gate (B, T) or (T,) (samples by time), the steps of ``transition_mask``
    ((T,) or (B, T), true at switches or in transition windows) marked; under it, sample 0's gate
    as a line over its regime (``regime_sequence`` (T,) or (B, T), labels {0, 1} or {−1, +1}).
    Tensors or NumPy arrays. Returns the matplotlib Figure; writes a PNG to ``save_path`` if given."""
    gates = _rows(gate_activations, "gate_activations")
    switches = _mask(transition_mask, gates, "transition_mask")
    regimes = _rows(regime_sequence, "regime_sequence") if regime_sequence is not None else None
    start, stop = time_range or (0, gates.shape[1])
    shown = gates[:, start:stop]
    fig, (top, bottom) = new_figure(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}, layout="constrained"
    )
    image = top.imshow(
        shown.numpy(),
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        vmin=0.0,
        vmax=1.0,
        extent=(start - 0.5, stop - 0.5, shown.shape[0] - 0.5, -0.5),
    )
    fig.colorbar(image, ax=top, label="gate g")
    top.set_ylabel("sample")
    top.set_title(title)
    if switches is not None:
        samples, times = torch.nonzero(switches[:, start:stop], as_tuple=True)
        top.scatter((times + start).numpy(), samples.numpy(), marker="|", s=60, c="red", label="switch")
        top.legend(loc="upper right", fontsize=8)
    time = torch.arange(start, stop)
    bottom.plot(time.numpy(), shown[0].numpy(), color="black", lw=1, label="gate (sample 0)")
    if regimes is not None:
        bottom.fill_between(
            time.numpy(),
            0,
            1,
            where=_positive(regimes[0, start:stop]).numpy(),
            step="mid",
            color="tab:orange",
            alpha=0.25,
            label="positive regime",
        )
    if switches is not None:
        for t in torch.nonzero(switches[0, start:stop]).flatten().tolist():
            bottom.axvline(t + start, color="red", lw=0.8, ls="--")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("time step")
    bottom.set_ylabel("gate")
    bottom.legend(loc="upper right", fontsize=8)
    return _finish(fig, save_path)


def plot_gate_statistics(
    gate_activations: Values,
    transition_mask: Values,
    save_path: str | Path | None = None,
    *,
    window: int = 1,
) -> Any:
    """Violin plots and histograms of the gate ((T,) or (B, T)) at switches against stable steps,
    with Welch's t-test in the title. ``transition_mask`` ((T,) or (B, T)) is true at switches; the
    first ``window`` steps from each one on count as "at switch" (``window=1``: the mask as given,
    e.g. a mask of transition windows). Returns the Figure; writes a PNG to ``save_path`` if given."""
    gates = _rows(gate_activations, "gate_activations")
    switches = _mask(transition_mask, gates, "transition_mask")
    assert switches is not None
    stats = gate_statistics(gates, switches, window)
    near = _near(switches, window)
    groups = [gates[near].numpy(), gates[~near].numpy()]
    labels = [f"at switch (first {window} step{'s' if window > 1 else ''})", "stable"]
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4), layout="constrained")
    left.violinplot(groups, showmeans=True)
    left.set_xticks([1, 2], labels)
    left.set_ylabel("gate g")
    for values, label, color in zip(groups, labels, ["tab:red", "tab:blue"]):
        right.hist(values, bins=40, range=(0, 1), density=True, alpha=0.5, color=color, label=label)
    right.set_xlabel("gate g")
    right.set_ylabel("density")
    right.legend(fontsize=8)
    fig.suptitle(
        f"gate at switch {stats['mean_at_switch']:.3f} ± {stats['std_at_switch']:.3f} vs stable "
        f"{stats['mean_stable']:.3f} ± {stats['std_stable']:.3f};  Welch t = {stats['t']:.2f}, "
        f"df = {stats['df']:.0f}, p = {stats['p']:.2g}"
    )
    return _finish(fig, save_path)


def plot_parity_energy_trajectory(
    parity_energies: Values,
    gate_activations: Values,
    k_star: float = K_STAR,
    regime_sequence: Values | None = None,
    time_range: tuple[int, int] | None = None,
    save_path: str | Path | None = None,
    *,
    sample: int | None = None,
) -> Any:
    """The parity energy α(h) with the threshold ``k_star`` (steps above it shaded) and the seam gate
    (open steps, g > 0.5, shaded) over time, under the regime if given. Inputs (T,) or (B, T):
    ``sample=None`` draws the mean over the batch (as the seed did), ``sample=i`` one sequence.
    Returns the Figure; writes a PNG to ``save_path`` if given."""
    energies = _rows(parity_energies, "parity_energies")
    gates = _rows(gate_activations, "gate_activations")
    if energies.shape != gates.shape:
        raise ValueError(f"parity_energies {tuple(energies.shape)} and gate_activations {tuple(gates.shape)} differ")
    if sample is not None and not 0 <= sample < gates.shape[0]:
        raise ValueError(f"sample: must be in [0, {gates.shape[0] - 1}], got {sample}")
    pick = (lambda rows: rows.mean(0)) if sample is None else (lambda rows: rows[sample])
    start, stop = time_range or (0, gates.shape[1])
    energy, gate = pick(energies)[start:stop], pick(gates)[start:stop]
    time = torch.arange(start, stop).numpy()
    panels = 3 if regime_sequence is not None else 2
    fig, axes = new_figure(panels, 1, figsize=(11, 2.6 * panels), sharex=True, layout="constrained")
    if regime_sequence is not None:
        regimes = _rows(regime_sequence, "regime_sequence")
        regime = regimes[0 if sample is None or regimes.shape[0] == 1 else sample, start:stop]
        axes[0].step(time, regime.numpy(), where="mid", color="black", lw=1.2)
        axes[0].set_ylabel("regime")
        axes[0].set_title("regime")
    what = "mean over the batch" if sample is None and gates.shape[0] > 1 else f"sample {sample or 0}"
    energy_axes, gate_axes = axes[-2], axes[-1]
    energy_axes.plot(time, energy.numpy(), color="tab:blue", lw=1.2, label="α(h)")
    energy_axes.axhline(k_star, color="red", lw=1.5, label=f"k* = {k_star:.3f}")
    energy_axes.fill_between(
        time,
        0,
        1,
        where=(energy > k_star).numpy(),
        step="mid",
        color="red",
        alpha=0.15,
        transform=energy_axes.get_xaxis_transform(),
    )
    energy_axes.set_ylim(0, 1)
    energy_axes.set_ylabel("parity energy")
    energy_axes.set_title(f"parity energy against its threshold ({what})")
    energy_axes.legend(loc="upper right", fontsize=8)
    gate_axes.plot(time, gate.numpy(), color="tab:green", lw=1.2, label="g(h)")
    gate_axes.axhline(0.5, color="red", ls="--", lw=1, label="half open")
    gate_axes.fill_between(
        time,
        0,
        1,
        where=(gate > 0.5).numpy(),
        step="mid",
        color="tab:green",
        alpha=0.15,
        transform=gate_axes.get_xaxis_transform(),
    )
    gate_axes.set_ylim(0, 1)
    gate_axes.set_ylabel("seam gate")
    gate_axes.set_xlabel("time step")
    gate_axes.legend(loc="upper right", fontsize=8)
    return _finish(fig, save_path)


def _near(switches: Tensor, window: int) -> Tensor:
    """True at each switch and the ``window`` − 1 steps after it."""
    near = torch.zeros_like(switches)
    for lag in range(window):
        near[:, lag:] |= switches[:, : switches.shape[1] - lag]
    return near


def load_run(path: str | Path) -> tuple[nn.Module, Any]:
    """The trained model (weights loaded, eval mode) and the task of a run folder or checkpoint
    file written by ``engrammar train``. Reads the checkpoint's documented layout directly (model
    and task specs in the safetensors metadata, weights under ``model/``): no trainer needed."""
    import engrammar
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        data = json.loads((handle.metadata() or {})["engrammar"])["data"]
        weights = {key[len("model/") :]: handle.get_tensor(key) for key in handle.keys() if key.startswith("model/")}
    model = engrammar.build(data["model_spec"])
    model.load_state_dict(weights)
    model.eval()
    return model, engrammar.build(dict(data["task"]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Gate plots of a gated_delta_rnn run on antipodal.")
    parser.add_argument("run", help="run folder (or checkpoint file) written by engrammar train")
    parser.add_argument("--out", default=".", help="folder for the PNG files and gate_statistics.json")
    parser.add_argument("--batch", type=int, default=16, help="sequences to trace")
    parser.add_argument("--seed", type=int, default=1, help="seed of the traced batch")
    parser.add_argument("--window", type=int, default=None, help="steps counted 'at switch' (default: the task's)")
    parser.add_argument("--time-range", type=int, nargs=2, default=None, help="steps shown in the heatmap")
    args = parser.parse_args(argv)

    model, task = load_run(args.run)
    batch = task.sample(args.batch, torch.Generator().manual_seed(args.seed))
    switches = regime_switches(batch.targets)
    window = args.window or int(getattr(task.spec, "window", 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    hook = _traced(model, batch.inputs, None)
    for name, energies in hook.parity_energies.items():
        plot_parity_energy_trajectory(
            energies,
            hook.gate_activations[name],
            k_star=float(model.get_submodule("" if name == "model" else name).spec.k_star),
            regime_sequence=batch.targets,
            time_range=tuple(args.time_range) if args.time_range else None,
            save_path=out / f"parity_energy_{name.replace('.', '_')}.png",
            sample=0,
        )
    for name, gates in hook.gate_activations.items():
        stem = name.replace(".", "_")
        plot_gate_heatmap(
            gates,
            out / f"gate_heatmap_{stem}.png",
            regime_sequence=batch.targets,
            transition_mask=switches,
            time_range=tuple(args.time_range) if args.time_range else None,
        )
        plot_gate_statistics(gates, switches, out / f"gate_statistics_{stem}.png", window=window)
        report[name] = gate_statistics(gates, switches, window)
    (out / "gate_statistics.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
