"""Feature-aware confidence weights: a labels-only co-occurrence prior refined by neighbours in feature space.

For an observed zero ``(i, c)`` let ``q_ic = P(y_ic = 1 | s_ic = 0, evidence)`` be the probability that it is
a missing positive; the weights are ``ω̄_ic = 1 − q_ic`` and ``ω_ic = 1``. Two pieces of evidence are pooled:

* **labels** -- a registered labels-only estimator (``prior``, default ``"pairwise-noisy-or"``) fitted on the
  same observed labels; its ``1 − ω̄`` is read as ``P(c | the other observed labels of i)`` and smoothed
  towards the class rate, ``q̃_ic = (1 − ε) (1 − ω̄^prior_ic) + ε π_c`` (``ε = prior_smoothing``): a pairwise
  estimate of 0 only says that no co-occurrence was *observed*, not that ``c`` is impossible;
* **features** -- a k-nearest-neighbour vote over the TRAINING fold: with ``N_k(i)`` the ``k`` training rows
  closest to ``x_i`` (``x_i`` itself excluded for a fitted row, i.e. when ``transform`` is given its position in
  ``rows``),
  ``g_ic = (#{j ∈ N_k(i) : s_jc = 1} + α π_c) / (#{j ∈ N_k(i) : s_jc ≠ −1} + α)`` (``α = vote_smoothing``),
  an estimate of ``P(s_c = 1 | x_i)``.

They are combined by Bayes' rule, treating the two as conditionally independent given the label: the
neighbours multiply the prior odds by their likelihood ratio against the class rate,

    logit q_ic = logit q̃_ic + [logit g_ic − logit π_c],

where ``π_c = (n_c + 1) / (n_known_c + 2)`` is the observed rate of class ``c`` (the same scale as ``g``, so
the ratio does not depend on the unknown label frequency ``P(s = 1 | y = 1)``). Observed positives keep
``ω̄ = 0`` (they have no negative term), unknown entries get ``ω = ω̄ = 0`` (the contract).

Features: dense features are standardised with statistics of the training rows; sparse features (bag of words)
are used as they are, since the cosine metric already normalises each row. Everything learned -- the scaler,
the neighbour index, the label prior -- comes from the rows passed to ``fit``; ``transform`` on other rows
(validation, test) finds their neighbours among the training rows only. The neighbour index is built and the
training rows' leave-one-out votes are computed once, in ``fit``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from mlml._params import FRACTION, NON_NEGATIVE, POSITIVE_INT, Options, Registered
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, to_dense
from mlml.neighbours import ALGORITHMS, NeighbourIndex, resolve_algorithm
from mlml.weights.base import ESTIMATORS, WeightEstimator, is_labels_only

Metric = Literal["cosine", "euclidean"]
METRICS: tuple[str, ...] = ("cosine", "euclidean")
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 − p))`` with ``p`` clipped to ``[1e-6, 1 − 1e-6]``."""
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(−z))``, computed without overflow."""
    return np.exp(-np.logaddexp(0.0, -z))


def class_rate(observed: LabelMatrix) -> np.ndarray:
    """``(n_labels,)`` smoothed observed class rate ``π_c = (n_c + 1) / (n_known_c + 2)`` (dense or CSR)."""
    if sp.issparse(observed):
        positive, unknown = label_indicators(observed)
        positives = np.asarray(positive.sum(axis=0)).ravel()
        known = observed.shape[0] - np.asarray(unknown.sum(axis=0)).ravel()
    else:
        positives = (observed == POSITIVE).sum(axis=0)
        known = (observed != UNKNOWN).sum(axis=0)
    return (positives + 1.0) / (known + 2.0)


def smoothed_prior(prior_neg: np.ndarray, rate: np.ndarray, smoothing: float) -> np.ndarray:
    """``q̃ = (1 − ε)(1 − ω̄^prior) + ε π_c``: the labels-only probability of a missing positive, mixed with the
    class rate ``π_c`` so that labels without observed co-occurrence are still ranked by their frequency."""
    return (1.0 - smoothing) * (1.0 - prior_neg) + smoothing * rate


def neighbour_vote(
    neighbours: np.ndarray, observed: LabelMatrix, rate: np.ndarray, smoothing: float
) -> np.ndarray:
    """``(n_query, n_labels)`` smoothed vote ``g`` of the training rows ``neighbours`` (see the module doc).

    Args:
        neighbours: int ``(n_query, k)`` row indices into ``observed``.
        observed: int8 ``(n_train, n_labels)`` observed training labels, dense or CSR (or the pair of CSR
            indicators ``(positive, unknown)`` of :func:`label_indicators`, to avoid recomputing them).
        rate: ``(n_labels,)`` class rates ``π``.
        smoothing: ``α`` >= 0, the weight of the class rate (pseudo-neighbours).
    """
    positive, unknown = observed if isinstance(observed, tuple) else label_indicators(observed)
    n_query, k = neighbours.shape
    # sparse (n_query, n_train) neighbour indicator: the counts are two sparse products, exact integers
    pick = sp.csr_matrix(
        (np.ones(n_query * k), neighbours.ravel(), np.arange(0, n_query * k + 1, k)),
        shape=(n_query, positive.shape[0]),
    )
    hits = (pick @ positive).toarray()
    known = k - (pick @ unknown).toarray()
    return (hits + smoothing * rate) / (known + smoothing)


def label_indicators(observed: LabelMatrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """CSR float64 indicators ``(positive, unknown)`` of the entries equal to 1 and to -1."""
    from mlml.weights.pairwise import indicator

    return indicator(observed, POSITIVE), indicator(observed, UNKNOWN)


@ESTIMATORS.register("knn")
class NeighbourCooccurrence(WeightEstimator):
    """ω̄ from a labels-only prior refined by a k-NN vote in feature space (see the module docstring).

    Args:
        prior: name of a registered labels-only estimator giving the co-occurrence prior.
        n_neighbors: ``k``, neighbours per row (capped at the number of training rows minus one).
        metric: ``"cosine"`` or ``"euclidean"`` on the (standardised) features.
        prior_smoothing: ``ε`` in [0, 1], the weight of the class rate in the smoothed prior.
        vote_smoothing: ``α`` >= 0, pseudo-neighbours voting with the class rate.
        algorithm: the neighbour search (:mod:`mlml.neighbours`): ``"auto"`` (exact up to 20,000 rows or 16
            features, faiss's approximate HNSW index beyond when installed), ``"brute"``, ``"tree"``, ``"hnsw"``.
        progress: show a tqdm bar while the neighbours are searched.

    Attributes:
        prior_estimator_: the fitted labels-only estimator.
        rate_: ``(n_labels,)`` class rates ``π``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 3)); Y = (X[:, :2] > 0).astype(np.int8)
        >>> pos, neg = NeighbourCooccurrence(n_neighbors=5).fit_transform(Y, features=X)
        >>> neg.shape, float(neg[Y == 1].max())
        ((40, 2), 0.0)
    """

    uses_features = True
    uses_rows = True
    _parameter_constraints = {
        "prior": [Registered(lambda: ESTIMATORS)], "n_neighbors": [POSITIVE_INT], "metric": [Options(METRICS)],
        "prior_smoothing": [FRACTION], "vote_smoothing": [NON_NEGATIVE], "algorithm": [Options(ALGORITHMS)],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        prior: str = "pairwise-noisy-or",
        n_neighbors: int = 20,
        metric: Metric = "cosine",
        prior_smoothing: float = 0.1,
        vote_smoothing: float = 1.0,
        algorithm: str = "auto",
        progress: bool = False,
    ) -> None:
        self.prior = prior
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.prior_smoothing = prior_smoothing
        self.vote_smoothing = vote_smoothing
        self.algorithm = algorithm
        self.progress = progress

    # -- fitting
    def _fit(self, observed: LabelMatrix, *, features: Any, hidden: Any) -> None:
        owner = type(self).__name__
        if not is_labels_only(self.prior):
            raise MLMLError(
                f"The 'prior' parameter of {owner} must name a labels-only estimator. Got {self.prior!r}."
            )
        n_train = observed.shape[0]
        if n_train < 2:
            raise MLMLError(f"{owner} needs at least 2 training rows. Got {n_train}.")
        if features is None:
            self._check_features(features, n_train, "fit")
        algorithm = resolve_algorithm(self.algorithm, n_train, features.shape[1], sp.issparse(features))
        # the approximate index searches in float32: keep float32 features so (n, d) is never held in float64
        x = self._check_features(features, n_train, "fit", np.float32 if algorithm == "hnsw" else np.float64)
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = None if sp.issparse(x) else StandardScaler(copy=False).fit(x)
        self.n_features_in_ = x.shape[1]
        self.n_neighbors_ = min(int(self.n_neighbors), n_train - 1)
        self.index_ = NeighbourIndex(metric=self.metric, algorithm=algorithm, progress=self.progress)
        self.index_.fit(self._scale(x))
        self.indicators_ = label_indicators(observed)
        self.rate_ = class_rate(observed)
        self.prior_estimator_ = ESTIMATORS.create(self.prior).fit(observed)
        self._train_neighbours: np.ndarray | None = None

    def _fitted_evidence(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The leave-one-out neighbours and votes of fitted rows (each fitted row's neighbours, the row itself
        excluded). The neighbours of every fitted row are searched on first use and kept (the search is the
        costly part; a caller that only transforms new rows -- a threshold policy's posterior of validation rows
        -- never pays); the votes are counted for the rows asked, so memory stays ``len(rows) x n_labels``."""
        if self._train_neighbours is None:
            self._train_neighbours = self.index_.query(self.n_neighbors_)
        neighbours = self._train_neighbours[rows]
        return neighbours, neighbour_vote(neighbours, self.indicators_, self.rate_, float(self.vote_smoothing))

    def _check_features(self, features: Any, n_rows: int, where: str, dtype: Any = np.float64) -> Any:
        if features is None:
            raise MLMLError(
                f"The 'knn' estimator uses features: pass features=(n_samples, n_features) to {where}."
            )
        if sp.issparse(features):
            x = sp.csr_matrix(features, dtype=dtype)
        else:
            x = np.array(features, dtype=dtype)  # a copy: the scaler standardises it in place
            if x.ndim != 2:
                raise MLMLError(f"'features' must be 2-D (n_samples, n_features). Got shape {x.shape}.")
            if not np.isfinite(x).all():
                raise MLMLError("'features' holds NaN or infinite values.")
        if x.shape[0] != n_rows:
            raise MLMLError(f"'features' has {x.shape[0]} rows; 'observed' has {n_rows}.")
        if hasattr(self, "n_features_in_") and x.shape[1] != self.n_features_in_:
            raise MLMLError(
                f"'features' has {x.shape[1]} columns; the estimator was fitted on {self.n_features_in_}."
            )
        return x

    def _scale(self, x: Any) -> Any:
        return x if self.scaler_ is None else self.scaler_.transform(x)

    # -- weights
    def evidence(
        self, observed: LabelMatrix, *, features: Any, rows: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """The pieces of the posterior for each entry, ``(n_samples, n_labels)`` each.

        Args:
            observed: the rows' observed labels.
            features: the rows' features.
            rows: their positions among the fitted rows (leave-one-out neighbours, computed in ``fit``), or None
                for new rows (neighbours searched among the fitted rows).

        Returns:
            ``prior`` (smoothed labels-only ``q̃``), ``vote`` (neighbour vote ``g``), ``posterior`` (``q``),
            and ``neighbours``: int ``(n_samples, k)`` indices of the training rows voting for each row.
        """
        self._check_fitted()
        dense = to_dense(observed).astype(np.int8, copy=False)
        if rows is not None:
            neighbours, vote = self._fitted_evidence(self._check_rows(rows, dense.shape[0]))
        else:
            x = self._scale(self._check_features(features, dense.shape[0], "transform"))
            neighbours = self.index_.query(self.n_neighbors_, x)
            vote = neighbour_vote(neighbours, self.indicators_, self.rate_, float(self.vote_smoothing))
        _, prior_neg = self.prior_estimator_.transform(observed)
        prior = smoothed_prior(prior_neg, self.rate_, float(self.prior_smoothing))
        posterior = sigmoid(logit(prior) + logit(vote) - logit(self.rate_))
        return {"prior": prior, "vote": vote, "posterior": posterior, "neighbours": neighbours}

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        q = self.evidence(observed, features=features, rows=rows)["posterior"]
        neg = 1.0 - q
        neg[to_dense(observed) == POSITIVE] = 0.0
        return np.ones(observed.shape), np.clip(neg, 0.0, 1.0)
