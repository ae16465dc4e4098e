"""A trained model: inference, saving it to a folder and loading it back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from mlml._io import atomic_group, atomic_open, write_text
from mlml.exceptions import MLMLError
from mlml.models.images import ImageFiles, collate_images
from mlml.training.config import TrainConfig
from mlml.training.distributed import DistInfo
from mlml.training.model import build_model, check_features, resolve_device, rows_tensor, unwrap

MODEL_FORMAT = 1


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
        return (self.predict_proba(inputs, **kwargs) >= self.decision_thresholds_for(None)).astype(np.int8) \
            if self.decision is None else self._decision().predict(self.predict_proba(inputs, **kwargs))

    def decision_thresholds_for(self, scores: np.ndarray | None) -> Any:
        """The thresholds ``predict`` applies to ``scores``: the decision's (per class or per sample), else the
        stored per-class ``thresholds``, else 0.5."""
        if self.decision is not None and scores is not None:
            return self._decision().thresholds(scores)
        return np.asarray(self.thresholds if self.thresholds is not None else 0.5, dtype=np.float64)

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
            "versions": {"mlml": mlml.__version__, "torch": torch.__version__},
        }
        meta.update(self._extra_meta())
        with atomic_group():  # model.pt and model.json appear together
            save_torch(state, out / "model.pt")
            write_text(out / "model.json", json.dumps(meta, indent=1, default=json_default))
        return out

    def _extra_meta(self) -> dict[str, Any]:
        return {}


@dataclass
class TrainResult(TrainedModel):
    """What :func:`fit` returns: the trained model plus its training record.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_score`` (mAP on the
            observed validation labels), ``lr``, ``seconds``.
        best_epoch: the epoch whose weights the model holds (0-based).
        val_proba: the final model's probabilities on the validation rows ``(n_val, n_labels)``.
        val_observed: the validation rows' observed labels (int8, as given), for threshold tuning.
        estimator: the fitted weight estimator (its final state for adaptive ones).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    val_proba: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    val_observed: Any = None
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

    def decide(self, policy: str, *, q: np.ndarray | None = None) -> Any:
        """Fit the threshold ``policy`` (:mod:`mlml.evaluation.policies`) on the validation rows and keep it as the
        model's ``decision`` (and, for per-class policies, its ``thresholds``); returns the ``Decision``.

        Args:
            policy: a name in ``POLICIES``.
            q: the posterior of the validation rows' observed zeros (``policies.posterior``), for the policies that
                do not trust them.
        """
        from mlml.evaluation.policies import fit_policy

        self._check_validation(f"The {policy!r} threshold policy")
        decision = fit_policy(policy, self.val_proba, self.val_observed, q=q)
        self.decision = decision.to_dict()
        if decision.class_thresholds is not None:
            self.thresholds = decision.class_thresholds.tolist()
        return decision

    def _check_validation(self, what: str) -> None:
        if self.val_observed is None or not len(self.val_proba):
            raise MLMLError(f"{what} needs validation rows; this model was trained without them.")

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


@torch.no_grad()
def predict_inputs(
    model: nn.Module,
    inputs: Any,
    mode: str,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    autocast: Callable[[], AbstractContextManager[Any]] | None = None,
) -> np.ndarray:
    """``σ(model(inputs))`` in batches, as float32 ``(n_samples, n_labels)``; the model is put in eval mode for
    the call and left as it was. Frozen mode reads feature rows (a tensor, an array or CSR), finetune mode decodes
    image files (``num_workers`` processes)."""
    chunks = [torch.sigmoid(logits).cpu()
              for logits in iter_logits(model, inputs, mode, device, batch_size, num_workers, autocast)]
    n_labels = unwrap(model).head.n_labels
    return torch.cat(chunks).numpy() if chunks else np.empty((0, n_labels), dtype=np.float32)


@torch.no_grad()
def iter_logits(
    model: nn.Module,
    inputs: Any,
    mode: str,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    autocast: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Iterator[Tensor]:
    """The model's float32 logits, one ``(batch, n_labels)`` tensor per batch of ``batch_size`` rows, in row order
    (what :func:`predict_inputs` and :meth:`TrainedModel.predict_topk` read; nothing of size ``n x n_labels``)."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    context = autocast or nullcontext
    try:
        if mode == "frozen":
            n = inputs.shape[0]
            for start in range(0, n, batch_size):
                part = inputs[start : start + batch_size]
                x = part if isinstance(part, Tensor) else rows_tensor(part)
                with context():
                    yield net(x.to(device)).float()
        else:
            files = ImageFiles(list(inputs), net.backbone.preprocess, target_size=net.backbone.preprocess.resize_to)
            loader = torch.utils.data.DataLoader(
                files, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_images
            )
            for images, _, _ in loader:
                with context():
                    yield net(images.to(device)).float()
    finally:
        net.train(was_training)


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
