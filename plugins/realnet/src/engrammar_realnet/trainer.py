"""``RealNetTrainer``: the training loop of RealNet's documentation (``realnet.training.trainer``).

The loop is small and documented step by step (``train_batch``); everything else is shared with the
rest of engrammar rather than written again here:

- the settings are an ``engrammar_train.TrainConfig`` (seed, rate, betas, weight decay, gradient
  clipping) and the float32 optimizer is engrammar-train's (``torch.optim.AdamW``);
- the bio-inspired tricks are the plugins of engrammar-tricks, driven through the training hooks
  of :mod:`engrammar.hooks`, exactly as ``engrammar train`` drives them: ghost gradients
  (``gradient_persistence``), synaptic noise (``synaptic_noise``), Darwinian regeneration
  (:meth:`RealNetTrainer.regenerate_synapses`), neurogenesis (:meth:`RealNetTrainer.expand`) and
  bitsandbytes' 8-bit AdamW (chosen on CUDA, see :func:`default_optimizer`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
from engrammar.hooks import make_plugin_manager
from engrammar.spec import SpecError
from engrammar_train import TrainConfig
from engrammar_train.optim import make_optimizer
from engrammar_tricks import DarwinianRegeneration, GhostGradients, Neurogenesis, SynapticNoise
from engrammar_tricks.adamw8bit.trick import AdamW8bitTrick, bitsandbytes_available
from torch import Tensor, nn

from .data import to_tensor
from .network import RealNet

__all__ = ["RealNetTrainer", "default_optimizer"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def default_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer the trainer makes when none is given: bitsandbytes' ``AdamW8bit`` when the
    device is CUDA, bitsandbytes imports and ``NO_BNB`` is not set; otherwise ``torch.optim.AdamW``.
    ``VERBOSE_BNB=1`` prints the choice and its reason to stderr."""
    verbose = _flag("VERBOSE_BNB")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if device.type != "cuda":
        reason = f"the device is {device.type}, not cuda"
    elif _flag("NO_BNB"):
        reason = "NO_BNB is set"
    elif not bitsandbytes_available():
        reason = "bitsandbytes does not import"
    else:
        trick = AdamW8bitTrick(backend="bitsandbytes")
        if verbose:
            print("RealNetTrainer: using bitsandbytes AdamW8bit", file=sys.stderr)
        return trick.make(parameters, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)  # type: ignore[no-any-return]
    if verbose:
        print(f"RealNetTrainer: using torch AdamW ({reason})", file=sys.stderr)
    return make_optimizer(parameters, config)


class RealNetTrainer:
    """Trains a :class:`RealNet`.

    ``optimizer``: your own, or None for :func:`default_optimizer` with rate ``lr`` (kept as
    ``initial_lr``). ``loss_fn``: called as ``loss_fn(predictions, targets)``; default mean squared
    error. ``device``: where the model is moved (default: where it is). ``gradient_persistence``: ρ
    of ghost gradients (0: off). ``synaptic_noise``: standard deviation of the Gaussian noise added
    to every weight after each optimizer step, so before the next one (0: off). ``seed`` seeds the
    tricks' random numbers and ``fit``'s shuffling; ``grad_clip`` caps the global gradient norm
    (0: no clipping).
    """

    def __init__(
        self,
        model: RealNet,
        optimizer: torch.optim.Optimizer | None = None,
        loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        lr: float = 1e-4,
        device: str | torch.device | None = None,
        gradient_persistence: float = 0.0,
        synaptic_noise: float = 1e-6,
        *,
        seed: int = 0,
        grad_clip: float = 1.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise SpecError("model", f"must be a RealNet (an nn.Module), got {type(model).__name__}")
        self.model = model
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model.to(self.device)
        self.config = TrainConfig(seed=seed, lr=lr, grad_clip=grad_clip)
        self.initial_lr = lr
        self.loss_fn = loss_fn if loss_fn is not None else nn.MSELoss()
        self.optimizer = optimizer if optimizer is not None else default_optimizer(model, self.config, self.device)
        self.step = 0  # optimizer steps taken
        self.records: list[dict[str, Any]] = []  # what the tricks log (regenerations, growths)
        tricks: list[object] = []
        if gradient_persistence < 0 or gradient_persistence >= 1:
            raise SpecError("gradient_persistence", f"must be in [0, 1), got {gradient_persistence}")
        if synaptic_noise < 0:
            raise SpecError("synaptic_noise", f"must be >= 0, got {synaptic_noise}")
        if gradient_persistence > 0:
            tricks.append(GhostGradients(persistence=gradient_persistence))
        if synaptic_noise > 0:
            tricks.append(SynapticNoise(std=synaptic_noise))
        self.hooks = make_plugin_manager(tricks)
        self.regeneration = DarwinianRegeneration(threshold=0.01)
        self.neurogenesis = Neurogenesis(every=1)
        self.hooks.hook.on_train_start(trainer=self)
        for trick in (self.regeneration, self.neurogenesis):
            trick.on_train_start(trainer=self)
        self._generator = torch.Generator().manual_seed(seed)
        self._pending = 0  # backward passes accumulated since the last optimizer step

    # ---- what the tricks call --------------------------------------------------------------

    def log(self, record: dict[str, Any]) -> None:
        """Keep a trick's log record (a regeneration's counts, a growth)."""
        self.records.append(dict(record))

    # ---- one step -------------------------------------------------------------------------

    def _outputs(self, x: Any, thinking_steps: int, full_sequence: bool) -> Tensor:
        first, _ = self.model(to_tensor(x, self.device), steps=thinking_steps)
        outputs = self.model.read_out(first) if hasattr(self.model, "read_out") else first
        return outputs if full_sequence else outputs[:, -1]

    def _loss(self, predictions: Tensor, targets: Tensor, mask: Tensor | None) -> Tensor:
        if targets.is_floating_point():
            targets = targets.to(predictions.dtype)
        if mask is None:
            return self.loss_fn(predictions, targets)
        mask = to_tensor(mask, self.device).to(predictions.dtype)
        if isinstance(self.loss_fn, nn.MSELoss):  # a weighted mean over the kept entries
            weights = mask.expand_as(predictions)
            return ((predictions - targets) ** 2 * weights).sum() / weights.sum().clamp_min(1e-12)
        return self.loss_fn(predictions * mask, targets * mask)

    def train_batch(
        self,
        input_features: Any,
        target_values: Any,
        thinking_steps: int,
        gradient_accumulation_steps: int = 1,
        full_sequence: bool = False,
        mask: Any = None,
        output_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> float:
        """One backward pass on a batch, and an optimizer step once ``gradient_accumulation_steps``
        batches have been accumulated. The predictions are the output (the output neurons, or the
        decoder's) after the last thinking step, (B, out), or at every step with ``full_sequence``
        (B, steps, out); ``mask`` weights them (0 ignores an entry); ``output_transform`` maps them
        before the loss (a reshape for cross-entropy). Returns the batch's loss."""
        if gradient_accumulation_steps < 1:
            raise SpecError("gradient_accumulation_steps", f"must be >= 1, got {gradient_accumulation_steps}")
        self.model.train()
        predictions = self._outputs(input_features, thinking_steps, full_sequence)
        if output_transform is not None:
            predictions = output_transform(predictions)
        targets = to_tensor(target_values, self.device)
        loss = self._loss(predictions, targets, mask)
        if not math.isfinite(float(loss.detach())):
            raise SpecError("loss", f"is {float(loss.detach())} (not finite); lower lr or check the data")
        (loss / gradient_accumulation_steps).backward()
        self._pending += 1
        if self._pending >= gradient_accumulation_steps:
            self._optimizer_step()
        return float(loss.detach())

    def _optimizer_step(self) -> None:
        self.hooks.hook.after_backward(trainer=self)
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.hooks.hook.before_optimizer_step(trainer=self, optimizer=self.optimizer)
        self.optimizer.step()
        self.hooks.hook.after_optimizer_step(trainer=self, optimizer=self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._pending = 0

    # ---- loops ----------------------------------------------------------------------------

    def fit(
        self,
        input_features: Any,
        target_values: Any,
        epochs: int = 10,
        batch_size: int = 32,
        thinking_steps: int = 10,
        *,
        full_sequence: bool = False,
        verbose: bool = False,
    ) -> list[float]:
        """Train for ``epochs`` passes over the data in shuffled batches of ``batch_size`` (one
        optimizer step each). Returns the history: the mean training loss of every epoch."""
        x = to_tensor(input_features, self.device)
        y = to_tensor(target_values, self.device)
        if len(x) != len(y):
            raise SpecError("target_values", f"has {len(y)} samples, input_features {len(x)}")
        if len(x) == 0:
            raise SpecError("input_features", "no samples")
        if batch_size < 1 or epochs < 0:
            raise SpecError("batch_size" if batch_size < 1 else "epochs", "must be >= 1")
        history = []
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=self._generator).to(self.device)
            total = 0.0
            for start in range(0, len(x), batch_size):
                index = order[start : start + batch_size]
                loss = self.train_batch(x[index], y[index], thinking_steps, full_sequence=full_sequence)
                total += loss * len(index)
            history.append(total / len(x))
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.6f}")
        return history

    @torch.no_grad()
    def predict(self, input_features: Any, thinking_steps: int, full_sequence: bool = False) -> Tensor:
        """The outputs in eval mode: after the last step (B, out), or every step's (B, steps, out)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self._outputs(input_features, thinking_steps, full_sequence)
        finally:
            self.model.train(was_training)

    # ---- plasticity -----------------------------------------------------------------------

    def regenerate_synapses(self, threshold: float | None = None, percentage: float | None = None) -> tuple[int, int]:
        """Darwinian regeneration now (the ``darwinian_regeneration`` trick): every weight entry
        with |w| < ``threshold`` (default 0.01), or the ``percentage`` of smallest |w|, is drawn
        again from the model's initialisation and its optimizer moments are zeroed. Returns
        ``(revived, total)``."""
        if threshold is not None and percentage is not None:
            raise SpecError("regenerate_synapses", "give threshold or percentage, not both")
        options = {"percentage": percentage} if percentage is not None else {"threshold": threshold or 0.01}
        trick = DarwinianRegeneration(**options)
        trick.generators = self.regeneration.generators  # one stream of random numbers per trainer
        return trick.regenerate(self.model, self.optimizer)

    def expand(self, amount: int = 1, verbose: bool = True) -> None:
        """Neurogenesis now (the ``neurogenesis`` trick): ``amount`` neurons are added to the model
        in place, silent (zero incoming synapses) with small random outgoing synapses; the optimizer
        follows, its moments kept for the old entries."""
        before = self.model.num_neurons if hasattr(self.model, "num_neurons") else None
        self.neurogenesis.grow(self, step=self.step, amount=amount)
        if verbose:
            print(f"neurogenesis: {before} -> {getattr(self.model, 'num_neurons', '?')} neurons")
