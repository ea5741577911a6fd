"""Gate plots from a trace: when does the seam gate open, and is it open at regime switches?

- :func:`seam_gates` runs a model on inputs and returns the seam gate g (B, T) of every
  ``gated_delta_rnn`` inside it (a forward hook catches each one's input, and the gate depends on
  the input only).
- :func:`gate_statistics`: the gate at switches (the first ``window`` steps from a switch on)
  against the other steps, with Welch's t-test (unequal variances).
- :func:`plot_gate_heatmap` and :func:`plot_gate_statistics` write PNG files.

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

from .gated_delta_rnn import GatedDeltaRNN

__all__ = [
    "gate_statistics",
    "load_run",
    "plot_gate_heatmap",
    "plot_gate_statistics",
    "regime_switches",
    "seam_gates",
    "welch_t_test",
]


def seam_gates(model: nn.Module, inputs: Tensor, resets: Tensor | None = None) -> dict[str, Tensor]:
    """Run ``model`` on ``inputs`` (B, T, in) and return ``{module name: gate (B, T)}`` for every
    :class:`GatedDeltaRNN` inside it (the model itself included)."""
    found: dict[str, Tensor] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, GatedDeltaRNN):

            def catch(module: GatedDeltaRNN, args: tuple[Any, ...], kwargs: dict[str, Any], name: str = name) -> None:
                # forward(x, state=None, resets=None), however the caller passed them
                call = dict(zip(("x", "state", "resets"), args), **kwargs)
                gates = module.gate_sequence(call["x"], call.get("state"), call.get("resets"))
                found[name or "model"] = gates.detach()

            hooks.append(module.register_forward_pre_hook(catch, with_kwargs=True))
    try:
        with torch.no_grad():
            model(inputs, None, resets)
    finally:
        for hook in hooks:
            hook.remove()
    return found


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
    near = torch.zeros_like(switches)
    for lag in range(window):
        near[:, lag:] |= switches[:, : switches.shape[1] - lag]
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


def plot_gate_heatmap(
    gates: Tensor,
    path: str | Path,
    *,
    regimes: Tensor | None = None,
    switches: Tensor | None = None,
    time_range: tuple[int, int] | None = None,
    title: str = "seam gate over time",
) -> Path:
    """Heatmap of gates (B, T) (samples by time), switch times marked; under it, sample 0's gate
    as a line over its regime (B, T, in {0, 1}). Writes a PNG to ``path`` and returns it."""
    start, stop = time_range or (0, gates.shape[1])
    shown = gates[:, start:stop].float().cpu()
    fig, (top, bottom) = new_figure(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}, layout="constrained"
    )
    image = top.imshow(
        shown.numpy(),
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        extent=(start - 0.5, stop - 0.5, shown.shape[0] - 0.5, -0.5),
    )
    fig.colorbar(image, ax=top, label="gate g")
    top.set_ylabel("sample")
    top.set_title(title)
    if switches is not None:
        samples, times = torch.nonzero(switches[:, start:stop].cpu(), as_tuple=True)
        top.scatter((times + start).numpy(), samples.numpy(), marker="|", s=60, c="red", label="switch")
        top.legend(loc="upper right", fontsize=8)
    time = torch.arange(start, stop)
    bottom.plot(time.numpy(), shown[0].numpy(), color="black", lw=1, label="gate (sample 0)")
    if regimes is not None:
        regime = regimes[0, start:stop].float().cpu()
        bottom.fill_between(
            time.numpy(),
            0,
            1,
            where=(regime > 0.5).numpy(),
            step="mid",
            color="tab:orange",
            alpha=0.25,
            label="regime +1",
        )
    if switches is not None:
        for t in torch.nonzero(switches[0, start:stop].cpu()).flatten().tolist():
            bottom.axvline(t + start, color="red", lw=0.8, ls="--")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("time step")
    bottom.set_ylabel("gate")
    bottom.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path, dpi=110)


def plot_gate_statistics(gates: Tensor, switches: Tensor, path: str | Path, *, window: int = 1) -> Path:
    """Violin plots and histograms of the gate at switches vs stable steps, with Welch's t-test
    in the title. Writes a PNG to ``path`` and returns it."""
    stats = gate_statistics(gates, switches, window)
    near = torch.zeros_like(switches)
    for lag in range(window):
        near[:, lag:] |= switches[:, : switches.shape[1] - lag]
    groups = [gates[near].float().cpu().numpy(), gates[~near].float().cpu().numpy()]
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
    return save_figure(fig, path, dpi=110)


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
    for name, gates in seam_gates(model, batch.inputs).items():
        stem = name.replace(".", "_")
        plot_gate_heatmap(
            gates,
            out / f"gate_heatmap_{stem}.png",
            regimes=batch.targets,
            switches=switches,
            time_range=tuple(args.time_range) if args.time_range else None,
        )
        plot_gate_statistics(gates, switches, out / f"gate_statistics_{stem}.png", window=window)
        report[name] = gate_statistics(gates, switches, window)
    (out / "gate_statistics.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
