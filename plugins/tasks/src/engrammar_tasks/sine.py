"""``sine``: generate a waveform from its description (RealNet's oscillator example). The input
gives a frequency (and, when they vary, the amplitude and phase); the target is the wave

    y_t = a sin(2π f t + φ),    t = 0 .. length - 1

In ``continuous`` mode the description is the input at every step (the model must keep time on its
own: a constant input carries no clock); in ``pulse`` mode it is given at step 0 only and the
inputs are zero afterwards (the model must also hold the description). Input channels: f scaled to
[0, 1] by ``max_frequency``, then a / ``max_amplitude`` when amplitudes vary, then φ / 2π when
phases vary, then a start flag (1 at step 0). Output width 1; loss and metric: mean squared error
over every step (``mse``; lower is better).
"""

from __future__ import annotations

import math

import torch
from engrammar.spec import field, ge, gt, one_of, spec
from engrammar.task import Task, TaskBatch, TaskSpec
from torch import Tensor


@spec
class SineSpec(TaskSpec):
    length: int = field(default=50, validator=ge(1), doc="steps per sequence")
    min_frequency: float = field(default=0.02, validator=gt(0.0), doc="lowest frequency, in cycles per step")
    max_frequency: float = field(default=0.1, validator=gt(0.0), doc="highest frequency, in cycles per step")
    vary_amplitude: bool = field(default=False, doc="draw the amplitude per sample (else 1)")
    max_amplitude: float = field(default=1.0, validator=gt(0.0), doc="amplitudes are uniform in [0.5, 1] x this")
    vary_phase: bool = field(default=False, doc="draw the phase per sample, uniform in [0, 2π) (else 0)")
    mode: str = field(
        default="continuous",
        validator=one_of("continuous", "pulse"),
        doc="continuous: the description at every step; pulse: at step 0 only",
    )

    def __attrs_post_init__(self) -> None:
        if self.min_frequency > self.max_frequency:
            raise ValueError(f"min_frequency ({self.min_frequency}) must be <= max_frequency ({self.max_frequency})")


class Sine(Task):
    """Produce a sine wave from its frequency (amplitude, phase) given as input (metric: mse)."""

    spec_cls = SineSpec
    spec: SineSpec
    metric_name = "mse"
    higher_is_better = False

    @property
    def in_features(self) -> int:
        return 2 + int(self.spec.vary_amplitude) + int(self.spec.vary_phase)

    @property
    def out_features(self) -> int:
        return 1

    @property
    def mean_square_amplitude(self) -> float:
        """E[a²]: the amplitude is fixed, or uniform in [0.5, 1] x max_amplitude (E = 7/12 x max²)."""
        top = self.spec.max_amplitude
        return 7 / 12 * top**2 if self.spec.vary_amplitude else top**2

    @property
    def chance_level(self) -> float:
        """Predicting 0 throughout: E[a²] / 2 (the wave's mean square over whole periods)."""
        return self.mean_square_amplitude / 2

    @property
    def threshold(self) -> float:
        """Solved at 5% of the chance level (the wave's power mostly explained)."""
        return 0.05 * self.chance_level

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        uniform = torch.rand(batch_size, 3, generator=generator)
        frequency = s.min_frequency + (s.max_frequency - s.min_frequency) * uniform[:, 0:1]  # (B, 1)
        amplitude = (
            s.max_amplitude * (0.5 + 0.5 * uniform[:, 1:2])
            if s.vary_amplitude
            else torch.full_like(frequency, s.max_amplitude)
        )
        phase = 2 * math.pi * uniform[:, 2:3] if s.vary_phase else torch.zeros_like(frequency)
        time = torch.arange(s.length, dtype=torch.float32)[None]  # (1, T)
        targets = (amplitude * torch.sin(2 * math.pi * frequency * time + phase))[..., None]  # (B, T, 1)

        channels = [frequency / s.max_frequency]
        if s.vary_amplitude:
            channels.append(amplitude / s.max_amplitude)
        if s.vary_phase:
            channels.append(phase / (2 * math.pi))
        description = torch.cat(channels, dim=-1)[:, None, :].expand(-1, s.length, -1)  # (B, T, C)
        start = (time == 0).float()[..., None].expand(batch_size, -1, -1)
        if s.mode == "pulse":
            description = description * start
        inputs = torch.cat([description, start], dim=-1)
        return TaskBatch(inputs, targets, torch.ones(batch_size, s.length, dtype=torch.bool))

    def loss(self, outputs: Tensor, batch: TaskBatch) -> Tensor:
        """Mean squared error over masked steps (0 when none is masked)."""
        error = (outputs.float() - batch.targets.float()).square().sum(dim=-1)
        mask = batch.mask.to(error.dtype)
        return (error * mask).sum() / mask.sum().clamp(min=1)

    def metrics(self, outputs: Tensor, batch: TaskBatch) -> dict[str, float]:
        """``mse`` (= ``loss``) and ``loss``."""
        value = float(self.loss(outputs, batch))
        return {"mse": value, "loss": value}
