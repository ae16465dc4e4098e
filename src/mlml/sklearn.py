"""A scikit-learn estimator over mlml's trainer, and multi-label scorers for model selection.

:class:`MissingLabelClassifier` takes features ``X`` and labels ``Y`` in mlml's encoding (int8 ``(n, C)``, dense
or CSR: 1 observed positive, 0 negative -- perhaps a missing positive --, 2 verified negative, -1 unknown) and trains
a method of :data:`mlml.methods.METHODS` on them:

1. ``fit(X, Y)`` hands the rows to the fold layer (:func:`mlml.folds.make_fold` with ``ratio=0``: nothing is
   hidden, ``Y`` already is what its user observed), which carves ``val_fraction`` of them into validation rows
   seeded by ``seed``;
2. :func:`mlml.training.fit` trains on the other rows, with early stopping and model selection on the
   validation rows' observed labels;
3. ``thresholds`` names a threshold policy of :mod:`mlml.evaluation.policies` (``fixed``: 0.5; ``tuned``,
   ``expected``, ``calibrated``, ``cardinality``, ``pu``; ``own``: the method's own), fitted on the validation rows
   (:func:`mlml.service.decide`, the step ``mlml train --thresholds`` takes; the policies that do not trust observed
   zeros read :func:`mlml.service.decision_posterior`, fitted on the training rows), and applied by ``predict``.

Because the estimator follows scikit-learn's contract (parameters stored as given in ``__init__``, learned
attributes ending in ``_``), ``clone``, ``Pipeline`` and ``GridSearchCV`` work.

Scoring a search. A search's held-out folds carry the same incomplete labels as its training folds, so a scorer
that counts every observed zero as a negative (:func:`masked_map_scorer`, the mean AP over the known entries, also
what :meth:`score` returns) rewards a model for ranking the missing positives low -- plain BCE, which learns
exactly that. :func:`pu_auc_scorer` does not trust the zeros: it is the macro ROC-AUC of the observed positives
against the observed zeros, read as *unlabelled* samples. If a fraction ``α_c`` of class ``c``'s zeros are missing
positives (selected independently of the features), the AUC of positives against unlabelled samples is

    AUC_PU,c = α_c / 2 + (1 − α_c) AUC_c,

an increasing affine function of the true AUC whose coefficients do not depend on the model (Menon et al., ICML
2015, "Learning from Corrupted Binary Labels via Class-Probability Estimation", §5; Jain, White & Radivojac, KDD
2017, "Recovering True Classifier Performance in Positive-Unlabeled Learning"): models are ranked as complete labels
would rank them. Average precision has no such property (a missing positive ranked high costs precision), which is
why the mAP scorer prefers plain BCE. ``GridSearchCV(..., scoring=pu_auc_scorer)``.

Determinism: every random choice (the validation carve, initialisation, shuffling, dropout) derives from
``seed``, and the caller's global torch RNG is left as it was, so the same data and parameters give the same
numbers, and so does a ``clone``. ``num_threads`` fixes torch's intra-op threads for the fit (restored after);
under ``GridSearchCV(n_jobs=k)`` give ``num_threads=1`` so that k workers do not each start every core's worth.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mlml.exceptions import MLMLError
from mlml.labels import check_labels, to_dense

__all__ = ["MissingLabelClassifier", "masked_map_score", "masked_map_scorer", "pu_auc_score", "pu_auc_scorer"]

#: The values ``y`` may hold (:mod:`mlml.labels`): positive, negative (perhaps missing), verified negative, unknown.
_ENCODING = (1, 0, 2, -1)


class MissingLabelClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label classifier trained with a missing-label method (see the module docstring).

    Parameters:
        method: a name in :data:`mlml.methods.METHODS` (``cb-wce``, ``bce``, ``epr``, ...), ``auto`` (trains a
            fixed set of candidates, each under two seeds, and averages them; :mod:`mlml.auto`) or a
            :class:`~mlml.methods.Method`. Oracle methods (``im-wce``) read hidden positives a user does not have
            and are refused.
        method_params: parameters of the method's loss or estimator (:meth:`~mlml.methods.Method.with_params`),
            e.g. ``{"expected_positives": 2.9}``.
        head: ``linear``, ``mlp`` or ``seed-mlp`` (:data:`mlml.models.HEADS`).
        hidden_sizes: widths of the ``mlp`` head's hidden layers, e.g. ``(512,)`` (None: the head's default).
        head_kwargs: other parameters of the head (``dropout``, ``activation``, ...).
        optimizer, lr, weight_decay, epochs, batch_size, patience, fixed_epochs, standardize: as in
            :class:`mlml.training.TrainConfig` (``lr=None``: the optimizer's default).
        val_fraction: share of the rows given to ``fit`` carved out (seeded) for early stopping, model selection
            and threshold tuning; scored on their observed labels. 0 needs ``fixed_epochs=True``.
        thresholds: the threshold policy fitted on the validation rows (:data:`mlml.evaluation.POLICIES`:
            ``fixed`` 0.5, ``tuned``, ``expected``, ``calibrated``, ``cardinality``, ``pu``, ``select``: the one of
            those six chosen on the validation rows), or ``own`` (the method's own,
            :attr:`~mlml.methods.Method.threshold_policy`; for ``auto``, the policy it chose).
        seed: the seed of everything random in ``fit``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ...
        num_threads: torch intra-op threads during ``fit`` (None: leave torch's setting).
        verbose: log one line per epoch (logger ``mlml.training``).

    Attributes:
        model_: the :class:`~mlml.training.TrainResult` (model, per-epoch ``history``, ``best_epoch``).
        thresholds_: ``(n_labels,)`` decision thresholds of :meth:`predict`, or None for the per-sample policy
            (``cardinality``), whose thresholds depend on each row's scores.
        policy_: the policy :meth:`predict` applies (``own`` resolved).
        classes_: ``arange(n_labels)``: the label columns (one binary output each).
        n_features_in_: the feature width seen in ``fit``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 5)).astype("float32")
        >>> Y = (X[:, :3] > 0).astype("int8")
        >>> Y[:20, 0] = -1                                      # unknown entries
        >>> clf = MissingLabelClassifier(head="linear", epochs=5, num_threads=1).fit(X, Y)
        >>> clf.predict_proba(X).shape
        (200, 3)
    """

    def __init__(
        self,
        method: Any = "cb-wce",
        *,
        method_params: Mapping[str, Any] | None = None,
        head: str = "mlp",
        hidden_sizes: Sequence[int] | None = None,
        head_kwargs: Mapping[str, Any] | None = None,
        optimizer: Literal["adamw", "adadelta", "sgd"] = "adamw",
        lr: float | None = None,
        weight_decay: float = 1e-4,
        epochs: int = 60,
        batch_size: int = 64,
        patience: int | None = 10,
        fixed_epochs: bool = False,
        standardize: bool = True,
        val_fraction: float = 0.1,
        thresholds: Literal["fixed", "tuned", "expected", "calibrated", "cardinality", "pu", "select", "own"] = "fixed",
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.method = method
        self.method_params = method_params
        self.head = head
        self.hidden_sizes = hidden_sizes
        self.head_kwargs = head_kwargs
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.fixed_epochs = fixed_epochs
        self.standardize = standardize
        self.val_fraction = val_fraction
        self.thresholds = thresholds
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.verbose = verbose

    # -- the parameters, checked when fit is called (scikit-learn's contract: __init__ stores them as given)
    def _resolved_method(self) -> Any:
        from mlml.auto import resolve_method
        from mlml.methods import Method

        if isinstance(self.method, Method):
            method = self.method
        elif isinstance(self.method, str):
            method = resolve_method(self.method)  # a registered method, or auto
        else:
            raise MLMLError(f"The 'method' parameter of MissingLabelClassifier must be a method name or a Method. "
                            f"Got {self.method!r} instead.")
        if self.method_params is not None and not isinstance(self.method_params, Mapping):
            raise MLMLError(f"The 'method_params' parameter of MissingLabelClassifier must be a mapping of parameter "
                            f"name to value (e.g. {{'expected_positives': 2.9}}) or None. Got {self.method_params!r} "
                            "instead.")
        if self.method_params:
            method = method.with_params(dict(self.method_params))
        if method.oracle:
            raise MLMLError(f"The method {method.name!r} is an oracle: it reads which positives were hidden, which "
                            "real data never tells. MissingLabelClassifier trains on what a user observed.")
        return method

    def _train_config(self) -> Any:
        from mlml._validation import check_option
        from mlml.evaluation.policies import POLICIES
        from mlml.training import TrainConfig

        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise MLMLError(f"The 'seed' parameter of MissingLabelClassifier must be an int >= 0. Got {self.seed!r} "
                            "instead.")
        check_option(self.thresholds, "thresholds", "MissingLabelClassifier", (*POLICIES, "own"))
        head_kwargs = dict(self.head_kwargs or {})
        if self.hidden_sizes is not None:
            if "hidden_sizes" in head_kwargs:
                raise MLMLError("MissingLabelClassifier got 'hidden_sizes' twice: as a parameter and in "
                                "'head_kwargs'; give it once.")
            head_kwargs["hidden_sizes"] = tuple(np.atleast_1d(self.hidden_sizes).tolist())
        config = TrainConfig(
            head=self.head, head_kwargs=head_kwargs, optimizer=self.optimizer, lr=self.lr,
            weight_decay=self.weight_decay, epochs=self.epochs, batch_size=self.batch_size, patience=self.patience,
            fixed_epochs=self.fixed_epochs, standardize=self.standardize, val_fraction=self.val_fraction,
            seed=self.seed, device=self.device, num_threads=self.num_threads, log=self.verbose, progress=False,
        )
        if self.thresholds not in ("fixed", "own") and config.val_fraction == 0:
            raise MLMLError(f"thresholds={self.thresholds!r} needs validation rows: give MissingLabelClassifier a "
                            "val_fraction > 0.")
        return config

    # -- scikit-learn's API
    def fit(self, X: Any, y: Any) -> MissingLabelClassifier:
        """Train on features ``X`` ``(n_samples, n_features)`` (dense or CSR) and labels ``y`` ``(n_samples,
        n_labels)`` in mlml's encoding (dense or CSR; -1 entries are left out of the loss and of validation).

        Raises:
            MLMLError (a ``ValueError``): bad parameters, ``y`` not 2-D or not in {1, 0, -1}, row counts that
                disagree.
        """
        from mlml.auto import fit_auto, is_auto
        from mlml.folds import make_fold
        from mlml.service import decide
        from mlml.training import fit

        config = self._train_config()  # every parameter checked before the data is read
        method = self._resolved_method()
        policy = method.threshold_policy if self.thresholds == "own" else self.thresholds
        if policy != "fixed" and config.val_fraction == 0:
            raise MLMLError(f"The method's own policy {policy!r} needs validation rows: give MissingLabelClassifier "
                            "a val_fraction > 0.")
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float32, np.float64),
                          ensure_min_samples=2 if config.val_fraction > 0 else 1)
        X = X.astype(np.float32, copy=False)
        Y = _check_targets(y, X.shape[0])
        rows = SimpleNamespace(labels=Y, features=X, image_paths=None)  # what make_fold reads of a Dataset
        fold = make_fold(rows, ratio=0.0, seed=self.seed, val_fraction=config.val_fraction, inputs=X)
        if is_auto(method):  # the candidates, the choice and (thresholds="own") its policy: mlml.auto
            result = fit_auto(fold, config, method)
            if self.thresholds == "own":
                policy = result.decision["policy"] if result.decision is not None else "fixed"
            else:
                result.decision, result.thresholds = None, None  # decided below by the policy asked for
        else:
            result = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation)
        if not (is_auto(method) and self.thresholds == "own"):
            from mlml.evaluation import UndefinedMetricWarning

            with warnings.catch_warnings():  # classes without a validation positive keep 0.5, as documented
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                decide(result, fold, policy)  # the step `mlml train --thresholds` takes (mlml.service)
        self.model_ = result
        self.policy_ = policy
        per_sample = result.decision is not None and result.decision["policy"] == "cardinality"  # select may pick it
        self.thresholds_ = (None if per_sample else
                            np.asarray(result.thresholds if result.thresholds is not None else
                                       np.full(Y.shape[1], 0.5), dtype=np.float32))
        self.classes_ = np.arange(Y.shape[1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``(n_samples, n_labels)`` float32, one independent probability per label."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float32, np.float64), reset=False)
        return self.model_.predict_proba(X.astype(np.float32, copy=False))

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(n_samples, n_labels)`` int8 (1 predicted positive, else 0): the fitted policy's decisions
        (:attr:`thresholds_` per class, or per sample for ``cardinality``)."""
        proba = self.predict_proba(X)  # checks that the estimator is fitted
        return self.model_.apply_decision(proba)

    def score(self, X: Any, y: Any, sample_weight: None = None) -> float:
        """Mean AP over the known (not -1) entries of the labels ``y`` (:func:`masked_map_score`)."""
        if sample_weight is not None:
            raise MLMLError("MissingLabelClassifier.score does not take sample weights.")
        return masked_map_score(y, self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False  # Y is always 2-D (n_samples, n_labels)
        tags.classifier_tags.multi_class = False  # each column is binary
        tags.classifier_tags.multi_label = True
        return tags


def _check_targets(y: Any, n_samples: int) -> Any:
    """``y`` as mlml's int8 labels (dense or CSR), or an error a user can act on (a ``ValueError``)."""
    if y is None:
        raise MLMLError("MissingLabelClassifier requires y to be passed, but the target y is None: give the labels "
                        "(n_samples, n_labels) in mlml's encoding (1, 0, -1).")
    if not sp.issparse(y):
        y = np.asarray(y)
    values = y.data if sp.issparse(y) else y
    if values.dtype != bool and not np.issubdtype(values.dtype, np.number):
        raise MLMLError(f"Unknown label type: y holds {values.dtype} values; mlml's labels are the numbers 1 "
                        "(positive), 0 (negative) and -1 (unknown).")
    if np.issubdtype(values.dtype, np.floating) and not np.array_equal(values, np.round(values)):
        raise MLMLError("Unknown label type: y holds continuous values (or NaN); mlml's labels are 1 (positive), "
                        "0 (negative) and -1 (unknown).")
    outside = np.isin(values, _ENCODING, invert=True)
    if outside.any():
        found = values[outside].flat[0].item()
        raise MLMLError(f"Only binary classification is supported, label by label: each column of y holds 1 "
                        f"(positive), 0 (negative, perhaps missing), 2 (verified negative) or -1 (unknown). Found "
                        f"the value {found!r}.")
    if not sp.issparse(y) and y.ndim == 1 and len(np.unique(y)) > 2:
        raise MLMLError(f"Only binary classification is supported, label by label: a 1-D y with "
                        f"{len(np.unique(y))} classes is multiclass; give 2-D labels (n_samples, n_labels) in "
                        "mlml's encoding (1, 0, 2, -1), one binary column per class.")
    if not sp.issparse(y) and y.ndim == 1:
        raise MLMLError(f"y must be 2-D (n_samples, n_labels) in mlml's encoding (1, 0, 2, -1), one binary column "
                        f"per class; got a 1-D array of {y.shape[0]} values. One class is y.reshape(-1, 1).")
    Y = check_labels(y, name="y")
    if Y.shape[0] != n_samples:
        raise MLMLError(f"X has {n_samples} rows but y has {Y.shape[0]}.")
    return Y


def masked_map_score(Y_true: Any, Y_score: Any) -> float:
    """Mean average precision over the known entries of ``Y_true``.

    Args:
        Y_true: int8 ``(n_samples, n_labels)``, dense or CSR: 1 positive, 0 negative, -1 unknown (left out).
        Y_score: ``(n_samples, n_labels)`` probabilities or scores.

    Returns:
        The mean AP of the classes with at least one known positive and one known negative among the rows
        (scikit-learn's AP; :func:`mlml.training.observed_map`); NaN when no class has both.
    """
    from mlml.training import observed_map

    labels = to_dense(check_labels(Y_true, name="Y_true"))
    scores = np.asarray(Y_score, dtype=np.float64)
    if scores.shape != labels.shape:
        raise MLMLError(f"Y_score has shape {scores.shape}; Y_true has shape {labels.shape}.")
    bad = np.count_nonzero(~np.isfinite(scores))
    if bad:
        raise MLMLError(f"Y_score holds {bad:,} NaN or infinite value(s) of {scores.size:,}; scores must be finite.")
    return observed_map(scores, labels)


def masked_map_scorer(estimator: Any, X: Any, y: Any) -> float:
    """A scorer for ``GridSearchCV(..., scoring=masked_map_scorer)`` and ``cross_val_score``: the masked mean AP
    (:func:`masked_map_score`) of ``estimator.predict_proba(X)`` against the labels ``y`` (-1 entries left out)."""
    return masked_map_score(y, estimator.predict_proba(X))


def pu_auc_score(Y_true: Any, Y_score: Any) -> float:
    """Macro ROC-AUC of the observed positives against the observed zeros read as unlabelled samples (see the module
    docstring: under positives missing at random it ranks models as the complete labels' AUC would).

    Args:
        Y_true: ``(n_samples, n_labels)`` in mlml's encoding, dense or CSR: 1 positive; 0 unlabelled (negative or
            missing positive) and 2 (verified negative) on the other side; -1 left out.
        Y_score: ``(n_samples, n_labels)`` probabilities or scores.

    Returns:
        The mean over the classes with at least one positive and one other known entry (scikit-learn's
        ``roc_auc_score`` per class); NaN when no class has both.
    """
    from sklearn.metrics import roc_auc_score

    labels = to_dense(check_labels(Y_true, name="Y_true"))
    scores = np.asarray(Y_score, dtype=np.float64)
    if scores.shape != labels.shape:
        raise MLMLError(f"Y_score has shape {scores.shape}; Y_true has shape {labels.shape}.")
    aucs = []
    for c in range(labels.shape[1]):
        known = labels[:, c] != -1
        positive = labels[known, c] == 1
        if 0 < positive.sum() < positive.size:
            aucs.append(roc_auc_score(positive, scores[known, c]))
    return float(np.mean(aucs)) if aucs else float("nan")


def pu_auc_scorer(estimator: Any, X: Any, y: Any) -> float:
    """A scorer for ``GridSearchCV(..., scoring=pu_auc_scorer)`` that does not trust observed zeros: the
    :func:`pu_auc_score` of ``estimator.predict_proba(X)`` against the observed labels ``y``."""
    return pu_auc_score(y, estimator.predict_proba(X))
