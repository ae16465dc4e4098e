"""The grid's configuration: a dataclass loaded from YAML; command-line flags override it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlml._validation import check_fraction, check_option, check_positive_int
from mlml.exceptions import MLMLError

DEFAULT_RATIOS = (0.0, 0.25, 0.5, 0.75)
DEFAULT_METHODS = ("bce", "im-wce", "cb-wce")


@dataclass
class GridConfig:
    """Everything that defines a run of the paper's experiment grid.

    Attributes:
        datasets: data SOURCE strings (``mlml data info --help`` lists the syntax); default the built-in yeast.
        ratios: missing ratios of positives hidden in each training fold.
        methods: method names from ``mlml.losses.METHODS`` (``["all"]`` expands to every registered method
            but aliases).
        folds: number of (multi-label stratified) folds; every fold is the test fold once.
        seeds: one grid per seed (the split, the hidden positives and the training all derive from it).
        scheme: the simulation scheme of :func:`mlml.simulate.hide_positives`.
        weights_source: ``"observed"`` (correct: estimators see the training fold's observed labels only) or
            ``"complete"`` (the seed code's leak: estimators fitted on the complete labels of the whole data set;
            every output labels it).
        thresholds: ``"fixed"`` (0.5, the paper's), ``"tuned"`` (per class, on the validation split's observed
            labels) or ``"both"``; both are always measured, this picks what the report shows.
        backbone: image backbone for image data sets (features are extracted once and cached).
        train: overrides of :class:`mlml.training.TrainConfig` fields (e.g. ``{"epochs": 30}``).
        min_labels: drop samples with fewer labels before splitting (the paper: 4 on COCO, 3 on NUS-WIDE).
        skip_bad: skip unreadable images of image data sets (their number and names are reported) instead of
            failing.
    """

    datasets: list[str] = field(default_factory=lambda: ["yeast"])
    ratios: list[float] = field(default_factory=lambda: list(DEFAULT_RATIOS))
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    folds: int = 4
    seeds: list[int] = field(default_factory=lambda: [0])
    scheme: str = "per-sample"
    weights_source: Literal["observed", "complete"] = "observed"
    thresholds: Literal["fixed", "tuned", "both"] = "fixed"
    backbone: str = "efficientnet_lite0"
    train: dict[str, Any] = field(default_factory=dict)
    min_labels: int | None = None
    skip_bad: bool = False

    def validate(self) -> GridConfig:
        """Check every field (naming the bad one), expand ``methods: [all]``, and return ``self``."""
        from mlml.losses import METHODS
        from mlml.simulate import SCHEMES

        owner = "the grid config"
        if not self.datasets:
            raise MLMLError(f"The 'datasets' parameter of {owner} names no data set.")
        self.ratios = [check_fraction(r, "ratios", owner) for r in self.ratios]
        if self.methods == ["all"]:  # every registered recipe once (aliases such as an = bce left out)
            self.methods = [name for name in METHODS.names() if METHODS.get(name).alias_of is None]
        for name in self.methods:
            METHODS.get(name)  # raises with the list of valid names
        self.folds = check_positive_int(self.folds, "folds", owner, minimum=2)
        self.seeds = [check_positive_int(s, "seeds", owner, minimum=0) for s in self.seeds]
        check_option(self.scheme, "scheme", owner, SCHEMES)
        check_option(self.weights_source, "weights_source", owner, ("observed", "complete"))
        check_option(self.thresholds, "thresholds", owner, ("fixed", "tuned", "both"))
        if not isinstance(self.train, dict):
            raise MLMLError(f"The 'train' parameter of {owner} must be a mapping. Got {self.train!r} instead.")
        if "seed" in self.train:
            raise MLMLError(f"The 'train' parameter of {owner} must not set 'seed': use 'seeds' (each trial's "
                            "training seed is its grid seed).")
        self.train_config(seed=0)  # unknown keys and bad values fail here, once, not in every trial
        return self

    def train_config(self, seed: int) -> Any:
        """A trial's :class:`~mlml.training.TrainConfig`: the ``train`` overrides, the trial's seed, and one
        intra-op thread unless ``train`` says otherwise (the same numbers serially and in worker processes, and
        the fastest setting for the small heads of frozen-feature trials); fine-tuning uses ``backbone``."""
        from mlml.training import TrainConfig

        values = {"seed": seed, "num_threads": 1, **self.train}
        if values.get("mode") == "finetune":
            values.setdefault("backbone", self.backbone)
        return TrainConfig.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (what ``config.yaml`` in the run folder holds)."""
        return dataclasses.asdict(self)

    def trial_hash(self) -> str:
        """Hash of everything that changes a trial's result besides its own key (dataset, method, ratio, ...)."""
        relevant = {k: v for k, v in self.to_dict().items() if k not in ("datasets", "ratios", "methods", "seeds")}
        relevant.pop("thresholds")  # both are always measured
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def load_config(
    path: str | Path | None, *, train_overrides: dict[str, Any] | None = None, **overrides: Any
) -> GridConfig:
    """Read a YAML grid config (keys: the :class:`GridConfig` fields) and apply non-None ``overrides``;
    ``train_overrides`` update the config's ``train`` mapping key by key."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MLMLError(f"{path}: cannot read the grid config: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise MLMLError(f"{path}: the grid config must be a mapping of GridConfig fields.")
        values.update(loaded or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if train_overrides:
        values["train"] = {**(values.get("train") or {}), **train_overrides}
    known = {f.name for f in dataclasses.fields(GridConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MLMLError(f"Unknown grid config key(s) {', '.join(unknown)}. Valid keys: {', '.join(sorted(known))}.")
    return GridConfig(**values).validate()
