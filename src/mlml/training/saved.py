"""A trained model: inference, saving it to a folder and loading it back (the batched inference itself is
:mod:`mlml.training.inference`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from mlml._io import atomic_group, atomic_open, write_text
from mlml.exceptions import MLMLError
from mlml.training.config import TrainConfig
from mlml.training.distributed import DistInfo
from mlml.training.inference import iter_logits, predict_inputs
from mlml.training.model import build_model, check_features, resolve_device, unwrap

MODEL_FORMAT = 1
#: The file of a model folder holding its validation rows' probabilities, observed labels and posterior.
VALIDATION_FILE = "validation.npz"
#: The most validation scores (rows x labels) a model folder keeps (beyond, a decision cannot be refitted).
VALIDATION_ENTRIES = 1 << 24


@dataclass
class TrainedModel:
    """A trained model and what is needed to use it: ``predict_proba``, ``save``; see :func:`load_model`.

    Attributes:
        model: the ``nn.Module`` (logits out): a ``FeatureClassifier`` or an ``ImageClassifier``.
        config: the :class:`TrainConfig` it was trained with.
        in_features: feature width (frozen) or the backbone's ``features_dim`` (finetune).
        n_labels: number of outputs.
        method: the method's name.
        label_names: class names (None when unknown).
        thresholds: per-class decision thresholds (None: 0.5 everywhere), e.g. tuned on validation rows.
        decision: a fitted threshold policy (:class:`mlml.evaluation.policies.Decision` as a dict), which
            ``predict`` applies instead of ``thresholds`` (per-sample policies need it); None: ``thresholds``.
        label_counts: observed positives per label among the training rows, and ``n_train`` their number: what
            the propensity-scored metrics' propensities are computed from (:meth:`propensity`); None when unknown.
        val_proba: the model's probabilities on its validation rows ``(n_val, n_labels)`` (empty when unknown).
        val_observed: the validation rows' observed labels (int8, as given), for fitting a decision (:meth:`decide`).
        val_q: the posterior of the validation rows' observed zeros (``policies.posterior``), which the policies
            that do not trust them read; None when not computed. ``save`` writes the three to ``validation.npz``
            (up to :data:`VALIDATION_ENTRIES` entries), so that a loaded model can refit its decision.
        missing_share: the share of missing positives diagnosed on the training rows' observed labels
            (:func:`mlml.service.fold_missing_share`; NaN where it could not be diagnosed), which the ``select``
            policy reads; None when not computed.
    """

    model: nn.Module
    config: TrainConfig
    in_features: int
    n_labels: int
    method: str = ""
    label_names: list[str] | None = None
    thresholds: list[float] | None = None
    decision: dict[str, Any] | None = None
    label_counts: list[int] | None = None
    n_train: int | None = None
    val_proba: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    val_observed: Any = None
    val_q: np.ndarray | None = None
    missing_share: float | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict_proba(self, inputs: Any, *, batch_size: int = 1024, num_workers: int = 0) -> np.ndarray:
        """Probabilities ``(n_samples, n_labels)`` float32 for features ``(n, in_features)`` (dense, memory-mapped
        or CSR; frozen mode) or a sequence of image paths (finetune mode)."""
        return predict_inputs(self.model, self._checked(inputs), self.config.mode, self.device, batch_size,
                              num_workers)

    def propensity(self, *, a: float | None = None, b: float | None = None) -> np.ndarray | None:
        """Jain et al.'s label propensities from the training rows' observed labels (:mod:`mlml.propensity`;
        ``a``, ``b`` default to 0.55 and 1.5), or None when the model does not know its training labels."""
        from mlml.propensity import DEFAULT_A, DEFAULT_B, propensity

        if self.label_counts is None or not self.n_train:
            return None
        return propensity(np.asarray(self.label_counts), int(self.n_train), a=DEFAULT_A if a is None else a,
                          b=DEFAULT_B if b is None else b)

    def iter_proba(self, inputs: Any, *, batch_size: int = 8192, num_workers: int = 0) -> Iterator[np.ndarray]:
        """:meth:`predict_proba` one batch of ``batch_size`` rows at a time (float32 ``(batch, n_labels)`` arrays,
        in row order), for data whose ``n_samples x n_labels`` probabilities should not be held at once."""
        inputs = self._checked(inputs)
        for logits in iter_logits(self.model, inputs, self.config.mode, self.device, batch_size, num_workers):
            yield torch.sigmoid(logits).cpu().numpy()

    def predict_topk(self, inputs: Any, k: int = 5, *, batch_size: int = 8192, num_workers: int = 0) -> np.ndarray:
        """The ``k`` highest-scoring labels of every row, best first (ties by lower label index), as int64
        ``(n_samples, min(k, n_labels))``: computed batch by batch from the logits, so that no dense
        ``n_samples x n_labels`` score matrix is made (what the ranking metrics of
        :mod:`mlml.evaluation.ranking` read)."""
        from mlml.evaluation.ranking import top_k

        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise MLMLError(f"The 'k' parameter of predict_topk must be an int >= 1. Got {k!r}.")
        inputs = self._checked(inputs)
        parts = [top_k(logits.cpu().numpy(), k)
                 for logits in iter_logits(self.model, inputs, self.config.mode, self.device, batch_size,
                                           num_workers)]
        return np.concatenate(parts) if parts else np.empty((0, min(k, self.n_labels)), dtype=np.int64)

    def _checked(self, inputs: Any) -> Any:
        """``inputs`` as the model reads them: frozen mode's features as an array or CSR, checked against
        ``in_features``; image paths as given."""
        if self.config.mode == "frozen":
            if not (isinstance(inputs, np.ndarray) or sp.issparse(inputs)):
                inputs = np.asarray(inputs, dtype=np.float32)
            check_features(inputs, self.in_features)
        return inputs

    def predict(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        """Binary predictions ``(n_samples, n_labels)`` int8: the stored ``decision``'s, else at ``thresholds``
        (0.5 where None)."""
        return self.apply_decision(self.predict_proba(inputs, **kwargs))

    def apply_decision(self, proba: np.ndarray) -> np.ndarray:
        """The decisions (int8) of :meth:`predict` for probabilities already computed (a block of rows)."""
        if self.decision is not None:
            return self._decision().predict(proba)
        return (proba >= self.decision_thresholds_for(None)).astype(np.int8)

    def decision_thresholds_for(self, scores: np.ndarray | None) -> Any:
        """The thresholds ``predict`` applies to ``scores``: the decision's (per class or per sample), else the
        stored per-class ``thresholds``, else 0.5."""
        if self.decision is not None and scores is not None:
            return self._decision().thresholds(scores)
        return np.asarray(self.thresholds, dtype=np.float64) if self.thresholds is not None else 0.5

    def _decision(self) -> Any:
        from mlml.evaluation.policies import Decision

        return Decision.from_dict(self.decision)

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``model.pt`` (weights, incl. the feature standardisation) and ``model.json`` (config,
        label names, thresholds, sizes, versions) to ``out_dir`` (atomically); returns the folder."""
        import mlml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in unwrap(self.model).state_dict().items()}
        meta = {
            "format": MODEL_FORMAT,
            "mode": self.config.mode,
            "in_features": self.in_features,
            "n_labels": self.n_labels,
            "method": self.method,
            "label_names": self.label_names,
            "thresholds": self.thresholds,
            "decision": self.decision,
            "label_counts": self.label_counts,
            "n_train": self.n_train,
            "config": self.config.to_dict(),
            **({} if self.missing_share is None else  # NaN (not diagnosable) as null: JSON has no NaN
               {"missing_share": None if np.isnan(self.missing_share) else float(self.missing_share)}),
            "versions": {"mlml": mlml.__version__, "torch": torch.__version__},
        }
        meta.update(self._extra_meta())
        with atomic_group():  # the model folder's files appear together
            save_torch(state, out / "model.pt")
            if self._has_validation() and self.val_proba.size <= VALIDATION_ENTRIES:
                save_validation(out / VALIDATION_FILE, self.val_proba, self.val_observed, self.val_q)
            write_text(out / "model.json", json.dumps(meta, indent=1, default=json_default))
        return out

    def decide(self, policy: str, *, q: np.ndarray | None = None, missing_share: float | None = None) -> Any:
        """Fit the threshold ``policy`` (:mod:`mlml.evaluation.policies`) on the validation rows and keep it as the
        model's ``decision`` (and, for per-class policies, its ``thresholds``); returns the ``Decision``.

        Works on a freshly trained model and on one loaded from a folder that holds its validation rows
        (``validation.npz``): a policy is changed without retraining.

        Args:
            policy: a name in ``POLICIES``.
            q: the posterior of the validation rows' observed zeros (``policies.posterior``), for the policies that
                do not trust them; None: the stored ``val_q``.
            missing_share: the training rows' diagnosed share of missing positives, which ``select`` reads (kept
                as :attr:`missing_share`); None: the stored one.

        Raises:
            MLMLError: no validation rows, or a policy that reads ``q`` or the missing share without one.
        """
        from mlml.evaluation.policies import SOFT_POLICIES, fit_policy

        self._check_validation(f"The {policy!r} threshold policy")
        q = self.val_q if q is None else q
        if missing_share is not None:
            self.missing_share = float(missing_share)
        for needed, value, what in ((policy in SOFT_POLICIES, q, "the posterior of the validation rows' observed "
                                     "zeros"), (policy == "select", self.missing_share, "the training rows' "
                                                "diagnosed share of missing positives")):
            if needed and value is None:
                raise MLMLError(f"The {policy!r} threshold policy reads {what}, which this model was saved "
                                "without; retrain it with this mlml's `mlml train`.")
        decision = fit_policy(policy, self.val_proba, self.val_observed, q=q, missing_share=self.missing_share)
        self.decision = decision.to_dict()
        self.thresholds = decision.class_thresholds.tolist() if decision.class_thresholds is not None else None
        return decision

    def _has_validation(self) -> bool:
        return self.val_observed is not None and len(self.val_proba) > 0

    def _check_validation(self, what: str) -> None:
        if not self._has_validation():
            raise MLMLError(f"{what} needs the model's validation rows; this model was trained without them, or "
                            f"saved without them ({VALIDATION_FILE}: more than {VALIDATION_ENTRIES} scores, or an "
                            "older mlml).")

    def _extra_meta(self) -> dict[str, Any]:
        return {}


@dataclass
class TrainResult(TrainedModel):
    """What :func:`fit` returns: the trained model plus its training record.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_score`` (mAP on the
            observed validation labels), ``lr``, ``seconds``.
        best_epoch: the epoch whose weights the model holds (0-based).
        estimator: the fitted weight estimator (its final state for adaptive ones).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    estimator: Any = None

    def tune_thresholds(self) -> np.ndarray:
        """Per-class thresholds maximising F1 on the validation rows' OBSERVED labels
        (:func:`mlml.evaluation.tune_thresholds`); stored as ``thresholds`` and returned.

        Raises:
            MLMLError: the model was trained without validation rows.
        """
        from mlml.evaluation import tune_thresholds

        self._check_validation("Tuning thresholds")
        thresholds = tune_thresholds(self.val_observed, self.val_proba)
        self.thresholds = thresholds.tolist()
        return thresholds

    def _extra_meta(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "history": self.history}


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> TrainedModel:
    """Load a model folder written by :meth:`TrainedModel.save`.

    Raises:
        MLMLError: the folder or one of its files is missing, damaged or of another format (naming the file).
    """
    folder = Path(path)
    meta_file, weights_file = folder / "model.json", folder / "model.pt"
    for f in (meta_file, weights_file):
        if not f.is_file():
            raise MLMLError(f"{f} not found: {folder} is not a model folder written by mlml train.")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise MLMLError(f"{meta_file}: not a readable model description: {reason}") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise MLMLError(f"{meta_file}: model format {found!r}; this mlml reads {MODEL_FORMAT}.")
    missing = [key for key in ("config", "in_features", "n_labels") if key not in meta]
    if missing or not isinstance(meta["config"], dict):
        raise MLMLError(f"{meta_file}: the model description lacks {', '.join(missing) or 'a config mapping'}; "
                        "it was not written by mlml train, or was edited.")
    _check_thresholds(meta_file, meta.get("thresholds"), meta["n_labels"])
    config = TrainConfig.from_dict({**meta["config"], "augment": None})
    model = build_model(config, meta["in_features"], meta["n_labels"], pretrained=False)
    try:
        model.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 -- truncated or corrupt file (pickle, zip, EOF), wrong architecture
        raise MLMLError(f"{weights_file}: cannot load the model weights ({type(exc).__name__}): "
                        f"{str(exc).splitlines()[0] if str(exc) else 'corrupt file'}") from None
    model.to(resolve_device(device, DistInfo())).eval()
    validation = load_validation(folder / VALIDATION_FILE, meta["n_labels"])
    return TrainedModel(
        model=model,
        config=config,
        in_features=meta["in_features"],
        n_labels=meta["n_labels"],
        method=meta.get("method", ""),
        label_names=meta.get("label_names"),
        thresholds=meta.get("thresholds"),
        decision=meta.get("decision"),
        label_counts=meta.get("label_counts"),
        n_train=meta.get("n_train"),
        missing_share=(None if "missing_share" not in meta
                       else float("nan") if meta["missing_share"] is None else float(meta["missing_share"])),
        **validation,
    )


def _check_thresholds(meta_file: Path, thresholds: Any, n_labels: Any) -> None:
    """A stored ``thresholds`` entry is None or one probability in [0, 1] a class (what ``mlml train`` writes)."""
    if thresholds is None:
        return
    if not isinstance(thresholds, list) or len(thresholds) != n_labels:
        size = len(thresholds) if isinstance(thresholds, list) else type(thresholds).__name__
        raise MLMLError(f"{meta_file}: 'thresholds' must be a list of {n_labels} probabilities in [0, 1] (one a "
                        f"class); got {size}{' values' if isinstance(thresholds, list) else ''}.")
    for j, value in enumerate(thresholds):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise MLMLError(f"{meta_file}: 'thresholds'[{j}] is {value!r}; a decision threshold is a probability "
                            "in [0, 1].")


def save_validation(path: Path, proba: np.ndarray, observed: Any, q: np.ndarray | None) -> None:
    """Write a model's validation rows (probabilities, observed labels, posterior) to ``path`` atomically."""
    from mlml.labels import to_dense

    arrays = {"proba": np.asarray(proba, dtype=np.float32), "observed": to_dense(observed).astype(np.int8)}
    if q is not None:
        arrays["q"] = np.asarray(q, dtype=np.float32)
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_validation(path: Path, n_labels: int) -> dict[str, Any]:
    """The ``val_proba``, ``val_observed`` and ``val_q`` of a model folder (empty when it holds none).

    Raises:
        MLMLError: the file is damaged or its shapes disagree with the model's (naming the file).
    """
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            values = {"val_proba": archive["proba"], "val_observed": archive["observed"],
                      "val_q": archive["q"] if "q" in archive.files else None}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise MLMLError(f"{path}: not a readable validation file written by mlml train: {exc}") from None
    shape = values["val_proba"].shape
    if len(shape) != 2 or shape[1] != n_labels or values["val_observed"].shape != shape or (
            values["val_q"] is not None and values["val_q"].shape != shape):
        raise MLMLError(f"{path}: validation arrays of shape {shape} do not fit a model of {n_labels} labels.")
    return values


def save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def json_default(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists; anything else by its repr."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)
