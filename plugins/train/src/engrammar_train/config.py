"""``TrainConfig``: everything about a training run except the model and the task, as a spec (so it
is validated with named errors, set from the command line with ``--set train.lr=3e-4``, and saved
in every checkpoint as JSON)."""

from __future__ import annotations

from engrammar.spec import between, field, ge, gt, one_of, spec

from .param_groups import ParamGroup

__all__ = ["OPTIMIZERS", "PRECISIONS", "SCHEDULES", "TrainConfig"]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("constant", "onecycle", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")


@spec
class TrainConfig:
    """How to train: steps, batches, optimizer, schedule, clipping, precision, truncation, logging."""

    steps: int = field(default=1000, validator=ge(1), doc="optimizer steps in the whole run")
    batch_size: int = field(default=32, validator=ge(1), doc="sequences per step")
    seed: int = field(default=0, validator=ge(0), doc="seeds the parameters, the data and dropout")
    optimizer: str = field(default="adamw", validator=one_of(*OPTIMIZERS), doc="adamw, adam or sgd (with momentum)")
    lr: float = field(default=1e-3, validator=gt(0.0), doc="learning rate (the peak for onecycle)")
    weight_decay: float = field(default=0.01, validator=ge(0.0), doc="decoupled for adamw, L2 for adam and sgd")
    betas: tuple[float, float] = field(default=(0.9, 0.999), doc="Adam's moment decays")
    momentum: float = field(default=0.9, validator=between(0.0, 1.0), doc="sgd momentum")
    schedule: str = field(default="constant", validator=one_of(*SCHEDULES), doc="learning-rate schedule over `steps`")
    warmup_fraction: float = field(
        default=0.25, validator=between(0.0, 1.0, inclusive=False), doc="onecycle: fraction of steps spent warming up"
    )
    grad_clip: float = field(
        default=1.0, validator=ge(0.0), doc="clip the global gradient norm to this; 0: no clipping"
    )
    precision: str = field(
        default="fp32",
        validator=one_of(*PRECISIONS),
        doc="fp32, or autocast to bf16 / fp16 (fp16 uses a gradient scaler, CUDA only)",
    )
    tbptt: int | None = field(
        default=None,
        validator=ge(1),
        doc="truncated backpropagation: backward and detach the state every this many time steps",
    )
    eval_every: int = field(
        default=100, validator=ge(1), doc="steps per epoch: evaluate, checkpoint and call the epoch hooks"
    )
    eval_batches: int = field(default=4, validator=ge(1), doc="batches per evaluation (always the same ones)")
    log_every: int = field(default=10, validator=ge(1), doc="steps between training lines in metrics.jsonl")
    device: str = field(default="auto", doc="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    deterministic: bool = field(default=False, doc="torch.use_deterministic_algorithms for the run")
    param_groups: dict[str, ParamGroup] = field(
        factory=dict,
        doc="per module path (nodes.persist): {lr_scale, update_every}; see engrammar_train.param_groups",
    )

    def __attrs_post_init__(self) -> None:
        if not all(0.0 <= beta < 1.0 for beta in self.betas):
            raise ValueError(f"betas must each be in [0, 1), got {list(self.betas)}")
