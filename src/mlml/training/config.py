"""The training configuration: one dataclass, validated once, serialisable to JSON/YAML."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, ClassVar, Literal

from mlml._params import COUNT, NON_NEGATIVE, POSITIVE_INT, POSITIVE_REAL, Interval, Options, validate_params
from mlml._validation import check_option
from mlml.exceptions import MLMLError

Mode = Literal["frozen", "finetune"]
Optimizer = Literal["adamw", "adadelta", "sgd"]
Schedule = Literal["cosine", "none"]
Solver = Literal["minibatch", "lbfgs"]

#: Learning rates used when ``lr`` is None. Adadelta's 0.1 is the seed paper's setting.
DEFAULT_LR = {"adamw": 1e-3, "adadelta": 0.1, "sgd": 0.01}

#: Fields that do not change the numbers a run produces (left out of checkpoint fingerprints).
NON_SEMANTIC = (
    "device",
    "num_threads",
    "checkpoint_dir",
    "resume",
    "progress",
    "log",
    "num_workers",
    "augment",
)


@dataclass
class TrainConfig:
    """How to train a head (``frozen``) or a backbone + head (``finetune``).

    Attributes:
        mode: ``frozen`` trains a head on fixed features (fast on CPU; the seed's actual setup);
            ``finetune`` trains ``backbone`` + head end to end on images.
        head: a name in :data:`mlml.models.HEADS`; ``head_kwargs`` its parameters (``mlp``: ``hidden_sizes``,
            ``activation``, ``dropout``, ``input_dropout``).
        optimizer: ``adamw`` (default), ``adadelta`` (the seed: lr 0.1) or ``sgd`` (``momentum``, Nesterov).
        lr: learning rate; None takes :data:`DEFAULT_LR` for the optimizer.
        weight_decay: decoupled (AdamW) or L2 (Adadelta, SGD) weight decay.
        lr_schedule: ``cosine`` (per step, from ``lr`` to 0 over ``epochs``) or ``none``.
        solver: ``minibatch`` (default: ``optimizer`` over shuffled batches, epoch by epoch) or ``lbfgs``: full-batch
            L-BFGS for a frozen ``linear`` head and a convex weighted cross-entropy, L2 penalty
            ``weight_decay / 2 * ||W||^2`` (:mod:`mlml.training.lbfgs`; other methods and heads are refused).
            Each of its rounds (``lbfgs_steps`` L-BFGS iterations) counts as an epoch for ``epochs``, ``patience``
            and model selection; it ends early once L-BFGS converges on fixed weights.
        epochs: the maximum number of epochs (exactly this many with ``fixed_epochs``).
        batch_size: the GLOBAL batch size (split across processes under distributed training).
        patience: stop after this many epochs without a better validation score (None: never stop early).
        val_fraction: share of the training rows carved out (seeded) for early stopping and model selection;
            scored on their OBSERVED labels only.
        val_metric: ``map`` (mean AP over the observed validation labels; higher is better) or ``loss``
            (BCE on the known validation entries; lower is better).
        fixed_epochs: train exactly ``epochs`` epochs and keep the last model (validation is still scored
            and reported when ``val_fraction > 0``).
        standardize: standardise features with the training rows' mean and standard deviation (frozen), or
            the pretrained backbone's features with those of up to 1,024 training images (finetune).
        seed: all randomness (validation carve, initialisation, shuffling, dropout) derives from it.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ...
        num_threads: torch intra-op threads during training (restored afterwards); None leaves it.
        amp: mixed precision (float16 autocast + gradient scaling) on CUDA; ignored on CPU.
        grad_clip: clip the gradient norm to this value (None: no clipping).
        adaptive_warmup_epochs: epochs before an adaptive estimator is first refreshed from the model.
        backbone: the backbone for ``finetune`` (and the one that extracted frozen features, recorded so
            ``evaluate`` can extract the same); ``backbone_weights`` a local weights file.
        finetune_last_k_blocks: train only the last k blocks of the backbone (None: all of it).
        backbone_lr_scale: the backbone's learning rate is ``lr * backbone_lr_scale``.
        augment: ``hflip`` or a callable ``PIL.Image -> PIL.Image`` applied to training images (finetune).
        num_workers: ``DataLoader`` workers decoding images (finetune).
        checkpoint_dir: save a checkpoint there after every epoch (atomically) and resume from it.
        resume: resume from ``checkpoint_dir`` when a checkpoint of the same run is there.
        progress: tqdm progress bars; log: one log line per epoch (logger ``mlml.training``).
    """

    mode: Mode = "frozen"
    head: str = "mlp"
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: Optimizer = "adamw"
    lr: float | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9
    lr_schedule: Schedule = "cosine"
    solver: Solver = "minibatch"
    lbfgs_steps: int = 10
    epochs: int = 60
    batch_size: int = 64
    patience: int | None = 10
    val_fraction: float = 0.1
    val_metric: Literal["map", "loss"] = "map"
    fixed_epochs: bool = False
    standardize: bool = True
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    amp: bool = True
    grad_clip: float | None = None
    adaptive_warmup_epochs: int = 1
    backbone: str | None = None
    backbone_weights: str | None = None
    finetune_last_k_blocks: int | None = None
    backbone_lr_scale: float = 1.0
    augment: str | Callable[[Any], Any] | None = None
    num_workers: int = 0
    checkpoint_dir: str | None = None
    resume: bool = True
    progress: bool = False
    log: bool = True

    #: The numeric and named fields' constraints (:mod:`mlml._params`); the flags (true/false, 0/1 from YAML), the
    #: names and the cross-field rules are checked in ``__post_init__``.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "mode": [Options("frozen", "finetune")], "optimizer": [Options(tuple(DEFAULT_LR))],
        "lr_schedule": [Options("cosine", "none")], "val_metric": [Options("map", "loss")],
        "epochs": [POSITIVE_INT], "batch_size": [POSITIVE_INT], "adaptive_warmup_epochs": [COUNT],
        "num_workers": [COUNT], "patience": [None, POSITIVE_INT], "num_threads": [None, POSITIVE_INT],
        "finetune_last_k_blocks": [None, COUNT], "lr": [None, POSITIVE_REAL], "weight_decay": [NON_NEGATIVE],
        "momentum": [NON_NEGATIVE], "grad_clip": [None, NON_NEGATIVE], "backbone_lr_scale": [NON_NEGATIVE],
        "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "solver": [Options("minibatch", "lbfgs")], "lbfgs_steps": [POSITIVE_INT],
    }

    def __post_init__(self) -> None:
        owner = "TrainConfig"
        validate_params(self, self._parameter_constraints, owner)
        self.check_solver()
        for name in ("fixed_epochs", "standardize", "amp", "resume", "progress", "log"):
            value = getattr(self, name)
            if type(value).__name__ not in ("bool", "bool_") and not (isinstance(value, int) and value in (0, 1)):
                raise MLMLError(f"The {name!r} parameter of {owner} must be true or false. Got {value!r} instead.")
            setattr(self, name, bool(value))
        for name in ("head", "device", "backbone", "backbone_weights", "checkpoint_dir"):
            value = getattr(self, name)
            optional = name not in ("head", "device")
            if (isinstance(value, (list, tuple, dict, set, numbers.Number)) or (value is None and not optional)
                    or (isinstance(value, str) and not value.strip())):
                raise MLMLError(f"The {name!r} parameter of {owner} must be a name (a string). Got {value!r} instead.")
        if self.val_fraction == 0 and not self.fixed_epochs:
            raise MLMLError(
                "Early stopping needs a validation split: set 'val_fraction' > 0 or 'fixed_epochs' = True."
            )
        if self.mode == "finetune" and not self.backbone:
            raise MLMLError("TrainConfig(mode='finetune') needs a 'backbone' (e.g. 'efficientnet_lite0').")
        if isinstance(self.augment, str) or not (self.augment is None or callable(self.augment)):
            check_option(self.augment, "augment", owner, ("hflip",))
        if not isinstance(self.head_kwargs, Mapping):
            raise MLMLError(
                f"The 'head_kwargs' parameter of {owner} must be a dict. Got {self.head_kwargs!r}."
            )
        self.head_kwargs = dict(self.head_kwargs)

    def check_solver(self) -> None:
        """Refuse ``solver="lbfgs"`` with another head than ``linear`` or in finetune mode (not convex)."""
        if self.solver != "lbfgs":
            return
        if self.mode != "frozen":
            raise MLMLError("The 'solver' parameter of TrainConfig is 'lbfgs', which trains frozen features only: "
                            f"mode is {self.mode!r}. Use solver='minibatch' to fine-tune.")
        if self.head != "linear":
            raise MLMLError("The 'solver' parameter of TrainConfig is 'lbfgs', which needs head='linear' (a convex "
                            f"problem); head is {self.head!r}. Use head='linear' (--head linear), or "
                            "solver='minibatch'.")

    @property
    def learning_rate(self) -> float:
        return float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (a callable ``augment`` is written as its qualified name)."""
        out = dataclasses.asdict(self)
        if callable(self.augment):
            out["augment"] = getattr(self.augment, "__qualname__", repr(self.augment))
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. loaded from YAML); unknown keys raise, naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise MLMLError(
                f"Unknown TrainConfig field(s) {unknown}. Valid fields: {', '.join(sorted(names))}."
            )
        return cls(**dict(values))

    def semantic_dict(self) -> dict[str, Any]:
        """The fields that determine the numbers (for checkpoint fingerprints)."""
        out = {k: v for k, v in self.to_dict().items() if k not in NON_SEMANTIC}
        if self.solver == "minibatch":  # absent by default, so that earlier runs' checkpoints still resume
            del out["solver"], out["lbfgs_steps"]
        return out
