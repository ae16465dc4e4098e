"""The grid's configuration: a dataclass loaded from YAML; command-line flags override it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlml._validation import check_fraction, check_option, check_positive_int, first_duplicate
from mlml.evaluation.policies import POLICIES
from mlml.exceptions import MLMLError
from mlml.recipes import RECIPES, merge_recipe

#: What a report can show: a policy, both fixed and tuned, each method's own policy beside fixed, or all.
THRESHOLD_CHOICES: tuple[str, ...] = (*POLICIES, "both", "own", "all")

DEFAULT_RATIOS = (0.0, 0.25, 0.5, 0.75)
DEFAULT_METHODS = ("bce", "im-wce", "cb-wce")


@dataclass
class GridConfig:
    """Everything that defines a run of the paper's experiment grid.

    Attributes:
        datasets: data SOURCE strings (``mlml data info --help`` lists the syntax); default the built-in yeast.
        ratios: missing ratios of positives hidden in each training fold; with ``scheme: partial`` the KNOWN
            proportions of the training fold's labels (Durand et al.'s protocol, each in (0, 1]); with ``scheme:
            single-positive`` only ``[0]``, the default there (one positive kept per row: no ratio applies).
        methods: method names from ``mlml.methods.METHODS`` (``["all"]`` expands to every registered method
            but aliases), or variants written as mappings ``{name: epr-k3, method: epr, params:
            {expected_positives: 3}}`` (``method`` defaults to ``name``; ``params`` are parameters of the method's
            loss or estimator, see :meth:`~mlml.methods.Method.with_params`). A preset of
            :data:`mlml.methods.METHOD_PRESETS` (``field``: the single-positive field's table) stands for its methods.
        method_params: parameters of listed methods, by method name (``{epr: {expected_positives: 2.9}}``; the
            ``--method-param`` flag).
        recipe: the name of the training recipe the config started from (``default``, or ``seed``: the seed
            code's, see :data:`RECIPES`); the recipe's values are already merged into the other fields.
        positive_weights: a registered weight estimator (e.g. ``class-balance``, the seed's per-label weights)
            whose ω multiplies every method's ω (a ``product`` estimator); None for none.
        folds: number of (multi-label stratified) folds; every fold is the test fold once.
        seeds: one grid per seed (the split, the hidden positives and the training all derive from it).
        scheme: the simulation scheme of :func:`mlml.simulate.hide_positives`.
        weights_source: ``"observed"`` (correct: estimators see the training fold's observed labels only) or
            ``"complete"`` (the seed code's leak: estimators fitted on the complete labels of the whole data set;
            every output labels it).
        thresholds: what the report shows: a policy of :data:`mlml.evaluation.policies.POLICIES` (``"fixed"``, the
            paper's 0.5; ``"tuned"``, per class on the validation rows' observed labels; ...), ``"both"`` (fixed
            and tuned), ``"own"`` (each method's own policy beside fixed) or ``"all"``; every policy is measured.
        policy_posterior: the labels-only (or feature-aware) weight estimator whose ``1 − ω̄`` the threshold
            policies that do not trust observed zeros read on the validation rows (fitted on the training rows'
            observed labels; :mod:`mlml.evaluation.policies`; ``knn`` reads the features too, at a cost).
        backbone: image backbone for image data sets (features are extracted once and cached).
        train: overrides of :class:`mlml.training.TrainConfig` fields (e.g. ``{"epochs": 30}``).
        min_labels: drop samples with fewer labels before splitting (the paper: 4 on COCO, 3 on NUS-WIDE).
        skip_bad: skip unreadable images of image data sets (their number and names are reported) instead of
            failing.
        val_set_variants: which labels of the validation rows select the kept epoch (early stopping and model
            selection): ``observed`` (default), ``complete`` (the single-positive repositories' default, a
            simulation-only oracle) or both; each ``complete`` trial runs as the method ``NAME@complete-val``
            (:attr:`mlml.methods.Method.val_set_variant`), so that reports label it.
    """

    datasets: list[str] = field(default_factory=lambda: ["yeast"])
    ratios: list[float] = field(default_factory=lambda: list(DEFAULT_RATIOS))
    methods: list[Any] = field(default_factory=lambda: list(DEFAULT_METHODS))
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    recipe: str = "default"
    positive_weights: str | None = None
    folds: int = 4
    seeds: list[int] = field(default_factory=lambda: [0])
    scheme: str = "per-sample"
    weights_source: Literal["observed", "complete"] = "observed"
    thresholds: str = "fixed"
    policy_posterior: str = "pairwise-noisy-or"
    backbone: str = "efficientnet_lite0"
    train: dict[str, Any] = field(default_factory=dict)
    min_labels: int | None = None
    skip_bad: bool = False
    val_set_variants: list[str] = field(default_factory=lambda: ["observed"])

    def validate(self) -> GridConfig:
        """Check every field (naming the bad one), expand ``methods: [all]``, and return ``self``."""
        from mlml.simulate import SCHEMES
        from mlml.weights import ESTIMATORS

        owner = "the grid config"
        for source in _listed(self.datasets, "datasets", owner):
            if not isinstance(source, str) or not source.strip():
                raise MLMLError(f"The 'datasets' parameter of {owner} holds {source!r}; expected SOURCE strings.")
        self.datasets = _distinct(self.datasets, "datasets", owner)
        for name in ("positive_weights", "policy_posterior", "backbone"):
            value = getattr(self, name)
            if not isinstance(value, str) and not (value is None and name == "positive_weights"):
                raise MLMLError(f"The {name!r} parameter of {owner} must be a name. Got {value!r} instead.")
        if self.min_labels is not None:
            self.min_labels = check_positive_int(self.min_labels, "min_labels", owner, minimum=0)
        if not isinstance(self.skip_bad, bool):
            raise MLMLError(f"The 'skip_bad' parameter of {owner} must be true or false. Got {self.skip_bad!r}.")
        self.ratios = _distinct([check_fraction(r, "ratios", owner) for r in _listed(self.ratios, "ratios", owner)],
                                "ratios", owner)
        self.seeds = _distinct([check_positive_int(s, "seeds", owner, minimum=0)
                                for s in _listed(self.seeds, "seeds", owner)], "seeds", owner)
        check_option(self.recipe, "recipe", owner, RECIPES)
        if self.positive_weights is not None:
            ESTIMATORS.get(self.positive_weights)  # raises with the list of valid names
        if not isinstance(self.method_params, dict):
            raise MLMLError(f"The 'method_params' parameter of {owner} must be a mapping of method name to "
                            f"parameters. Got {self.method_params!r} instead.")
        from mlml.methods import VAL_SET_VARIANTS

        self.val_set_variants = _distinct([check_option(v, "val_set_variants", owner, VAL_SET_VARIANTS)
                                           for v in _listed(self.val_set_variants, "val_set_variants", owner)],
                                          "val_set_variants", owner)
        self._methods = self._resolve_methods()
        self.folds = check_positive_int(self.folds, "folds", owner, minimum=2)
        check_option(self.scheme, "scheme", owner, SCHEMES)
        if self.scheme == "single-positive" and self.ratios != [0.0]:  # 4 ratios: the same table 4 times over
            raise MLMLError(f"The 'ratios' of {owner} do not apply to scheme 'single-positive' (one positive kept per "
                            f"training row). Got {self.ratios}; give 0 or leave them out.")
        if self.scheme == "partial" and 0.0 in self.ratios:
            raise MLMLError(f"The 'ratios' of {owner} are known proportions with scheme 'partial'; 0 leaves no label "
                            "to train on. Give values in (0, 1].")
        check_option(self.weights_source, "weights_source", owner, ("observed", "complete"))
        check_option(self.thresholds, "thresholds", owner, THRESHOLD_CHOICES)
        ESTIMATORS.get(self.policy_posterior)
        if not isinstance(self.train, dict):
            raise MLMLError(f"The 'train' parameter of {owner} must be a mapping. Got {self.train!r} instead.")
        if "seed" in self.train:
            raise MLMLError(f"The 'train' parameter of {owner} must not set 'seed': use 'seeds' (each trial's "
                            "training seed is its grid seed).")
        train = self.train_config(seed=0)  # unknown keys and bad values fail here, once, not in every trial
        if train.mode == "frozen":  # the head's name and parameters, checked on a 2 -> 2 head (finetune: its backbone)
            from mlml.models import create_head

            create_head(train.head, 2, 2, **train.head_kwargs)
        self._check_methods()
        return self

    def _check_methods(self) -> None:
        """Build each method's loss and estimator once, so that a bad parameter (``epr: {expected_positives:
        -3}``) fails here, in one line, rather than every trial. (An adaptive method in a grid with
        ``weights_source: complete`` still fails its own trials only: a leak audit of ``methods: all`` runs the
        others.)"""
        for name, method in self._methods.items():
            try:
                for part in getattr(method, "candidate_methods", lambda: [method])():  # auto: its candidates
                    part.make_loss()
                    part.make_estimator()
            except MLMLError as exc:
                raise MLMLError(f"Method {name!r} of the grid config: {exc}") from None

    def _resolve_methods(self) -> dict[str, Any]:
        """Name -> :class:`~mlml.methods.Method` for every method of the grid, parameters and positive weights
        applied; ``methods`` is rewritten with ``all`` expanded."""
        from mlml.auto import resolve_method  # a registered method, or auto (mlml.auto)
        from mlml.methods import METHOD_PRESETS, METHODS

        owner = "the grid config"
        entries = _listed(self.methods, "methods", owner)
        if entries == ["all"]:  # every registered recipe once (aliases such as an = bce left out)
            entries = [name for name in METHODS.names() if METHODS.get(name).alias_of is None]
        entries = [m for e in entries for m in (METHOD_PRESETS[e] if isinstance(e, str) and e in METHOD_PRESETS
                                                else (e,))]
        resolved: dict[str, Any] = {}
        for entry in entries:
            if isinstance(entry, str):
                name, method = entry, resolve_method(entry)  # raises with the list of valid names
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                unknown = sorted(set(entry) - {"name", "method", "params"})
                if unknown:
                    raise MLMLError(f"A method entry of {owner} has unknown key(s) {unknown}; valid: name, method, "
                                    "params.")
                if not isinstance(entry.get("method", ""), str) or not isinstance(entry.get("params") or {}, dict):
                    raise MLMLError(f"The method entry {entry['name']!r} of {owner}: 'method' must be a method name "
                                    f"and 'params' a mapping. Got {entry!r}.")
                name = entry["name"]
                method = resolve_method(entry.get("method", name)).with_params(entry.get("params") or {}, name=name)
            else:
                raise MLMLError(f"The 'methods' parameter of {owner} holds {entry!r}; expected a method name or a "
                                "mapping {name, method, params}.")
            if name in resolved:
                raise MLMLError(f"The 'methods' parameter of {owner} lists {name!r} twice.")
            resolved[name] = method
        for name, params in self.method_params.items():
            if name not in resolved:
                raise MLMLError(f"'method_params' of {owner} names {name!r}, which is not among the grid's methods "
                                f"({', '.join(resolved)}).")
            if not isinstance(params, dict):
                raise MLMLError(f"'method_params' of {owner} for {name!r} must be a mapping. Got {params!r}.")
            resolved[name] = resolved[name].with_params(params)
        if self.positive_weights is not None:
            resolved = {name: m.with_positive_weights(self.positive_weights) for name, m in resolved.items()}
        variants = {}
        for name, method in resolved.items():  # model selection on the observed labels, and/or on complete ones
            if "observed" in self.val_set_variants:
                variants[name] = method
            if "complete" in self.val_set_variants:
                variants[f"{name}@complete-val"] = dataclasses.replace(method, name=f"{name}@complete-val",
                                                                       val_set_variant="complete", alias_of=None)
        resolved = variants
        self.methods = [e if isinstance(e, (str, dict)) else str(e) for e in entries]
        return resolved

    @property
    def method_names(self) -> list[str]:
        """The grid's method names, in order."""
        return list(self.resolved_methods())

    def resolved_methods(self) -> dict[str, Any]:
        """Name -> the :class:`~mlml.methods.Method` each trial of that name trains (after :meth:`validate`)."""
        if not hasattr(self, "_methods"):
            self.validate()
        return self._methods

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
        """Hash of everything that changes a trial's result besides its own key (dataset, method, ratio, ...)
        and its method's definition (which the trial's id holds itself)."""
        per_trial = ("datasets", "ratios", "methods", "method_params", "positive_weights", "seeds", "recipe",
                     "thresholds", "val_set_variants")  # thresholds: all measured; the variant: in the method
        relevant = {k: v for k, v in self.to_dict().items() if k not in per_trial}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _listed(values: Any, name: str, owner: str) -> list[Any]:
    if isinstance(values, (str, dict)) or not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        raise MLMLError(f"The {name!r} parameter of {owner} is empty; it needs at least one value.")
    return list(values)


def _distinct(values: Any, name: str, owner: str) -> list[Any]:
    values = _listed(values, name, owner)
    duplicate = first_duplicate(values)
    if duplicate is not None:
        raise MLMLError(f"The {name!r} parameter of {owner} lists {duplicate!r} twice; every trial would run twice.")
    return values


def load_config(
    path: str | Path | None,
    *,
    recipe: str | None = None,
    train_overrides: dict[str, Any] | None = None,
    **overrides: Any,
) -> GridConfig:
    """Read a YAML grid config (keys: the :class:`GridConfig` fields) and apply non-None ``overrides``;
    ``train_overrides`` update the config's ``train`` mapping key by key.

    The recipe (``recipe``, else the file's ``recipe`` key, else ``default``) gives the starting values: the
    file's values override the recipe's and the flags override both (``train`` merged key by key throughout).
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as exc:  # file:line: the problem, in one line (PyYAML's takes four to eight)
            mark = exc.problem_mark or exc.context_mark
            where = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
            what = ": ".join(str(part) for part in (exc.context, exc.problem) if part)
            raise MLMLError(f"{where}: invalid YAML: {what or 'cannot parse'}"
                            f"{f' (column {mark.column + 1})' if mark is not None else ''}.") from None
        except RecursionError:
            raise MLMLError(f"{path}: the grid config is nested too deeply to read.") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            reason = " ".join(str(exc).split())
            raise MLMLError(f"{path}: cannot read the grid config: {reason}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise MLMLError(f"{path}: the grid config must be a mapping of GridConfig fields.")
        values.update(loaded or {})
        for key in ("train", "method_params"):
            if values.get(key) is not None and not isinstance(values[key], dict):
                raise MLMLError(f"{path}: '{key}' must be a mapping (key: value lines). Got {values[key]!r}.")
    name = recipe if recipe is not None else values.get("recipe", "default")
    method_params = overrides.pop("method_params", None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    merged = merge_recipe(name, values, train=train_overrides)
    if merged.get("scheme") == "single-positive" and "ratios" not in values:  # neither the file nor a flag
        merged["ratios"] = [0.0]  # the scheme keeps one positive per row: the ratio axis does not apply
    if method_params:  # per method, key by key over the file's
        merged["method_params"] = dict(merged.get("method_params") or {})
        for method, params in method_params.items():
            merged["method_params"][method] = {**(merged["method_params"].get(method) or {}), **params}
    known = {f.name for f in dataclasses.fields(GridConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise MLMLError(f"Unknown grid config key(s) {', '.join(unknown)}. Valid keys: {', '.join(sorted(known))}.")
    return GridConfig(**merged).validate()
