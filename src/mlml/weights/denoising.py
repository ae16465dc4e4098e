"""A labels-only detector of missing positives trained by hiding observed positives on purpose.

Self-supervision in the spirit of denoising autoencoders for collaborative filtering: from each fitted sample,
``n_copies`` corrupted copies are drawn by hiding positives with :func:`mlml.simulate.hide_positives`
(per-sample scheme, ratio ``drop_ratio``); a multi-output logistic regression learns, from the positives left
in a copy, which of its zero entries were hidden::

    p_c(x) = σ(x W_{:, c} + b_c),    x ∈ {0, 1}^L the kept positives,

fitted by L-BFGS (scipy) on the mean, over copies, of the masked binary cross-entropy
``−Σ_{c : x_c = 0, y_c ≠ -1} [t_c log p_c + (1 − t_c) log(1 − p_c)] + (α / 2) ‖W‖²`` (``t_c = 1`` for a hidden
positive). Its output is a calibrated probability that a zero entry is a positive hidden by a process like the
simulated one, and for a sample's observed labels ``x``::

    ω̄_ic = 1 − p_c(x)  for y_ic = 0,     ω̄_ic = 0 for observed positives,     ω_ic = 1.

Unknown (``-1``) entries are neither features nor targets. ``W`` is a dense ``(n_labels, n_labels)`` matrix.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from mlml._validation import RandomState, check_fraction, check_positive_int, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN
from mlml.simulate import hide_positives
from mlml.weights.base import ESTIMATORS, WeightEstimator
from mlml.weights.pairwise import indicator


@ESTIMATORS.register("denoising-logistic")
class DenoisingLogistic(WeightEstimator):
    """Logistic regression trained to find deliberately hidden positives (see the module docstring).

    Args:
        drop_ratio: the ratio of observed positives hidden in each corrupted copy (in (0, 1)).
        n_copies: corrupted copies per fitted sample.
        alpha: L2 penalty on ``W`` (per fitted copy; the loss is a mean).
        max_iter: L-BFGS iterations.
        random_state: seed or Generator for the corruption.

    Attributes:
        coef_: ``(n_labels, n_labels)`` ``W`` (row: kept label, column: predicted label).
        intercept_: ``(n_labels,)`` ``b``.
        n_iter_: L-BFGS iterations run.
    """

    def __init__(
        self,
        drop_ratio: float = 0.3,
        n_copies: int = 2,
        alpha: float = 1e-4,
        max_iter: int = 300,
        random_state: RandomState = 0,
    ) -> None:
        self.drop_ratio = drop_ratio
        self.n_copies = n_copies
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        name = type(self).__name__
        drop = check_fraction(self.drop_ratio, "drop_ratio", name)
        if not 0.0 < drop < 1.0:
            raise MLMLError(f"The 'drop_ratio' parameter of {name} must be in (0, 1). Got {drop!r} instead.")
        copies = check_positive_int(self.n_copies, "n_copies", name)
        max_iter = check_positive_int(self.max_iter, "max_iter", name)
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0:
            raise MLMLError(
                f"The 'alpha' parameter of {name} must be a float >= 0. Got {self.alpha!r} instead."
            )
        rng = check_random_state(self.random_state)
        unknown = indicator(observed, UNKNOWN).toarray() > 0
        inputs, targets, masks = [], [], []
        for _ in range(copies):
            kept, dropped = hide_positives(observed, drop, random_state=rng)
            inputs.append(indicator(kept, POSITIVE))
            targets.append(indicator(dropped, 1).toarray())
            masks.append(~((indicator(kept, POSITIVE).toarray() > 0) | unknown))
        x = sp.vstack(inputs).tocsr()
        t = np.vstack(targets)
        m = np.vstack(masks).astype(np.float64)
        n, n_labels = t.shape
        alpha = float(self.alpha)

        def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[:-n_labels].reshape(n_labels, n_labels)
            z = x @ w + theta[-n_labels:]
            loss = -np.sum(m * (t * log_expit(z) + (1 - t) * log_expit(-z))) / n + 0.5 * alpha * np.sum(w * w)
            g = m * (expit(z) - t) / n
            grad_w = np.asarray(x.T @ g) + alpha * w
            return float(loss), np.concatenate([grad_w.ravel(), g.sum(axis=0)])

        result = minimize(
            loss_and_grad,
            np.zeros(n_labels * n_labels + n_labels),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
        self.coef_ = result.x[:-n_labels].reshape(n_labels, n_labels)
        self.intercept_ = result.x[-n_labels:]
        self.n_iter_ = int(result.nit)

    def predict_proba(self, positives: sp.csr_matrix) -> np.ndarray:
        """``(n_samples, n_labels)`` ``p_c(x)`` for the CSR indicator of the observed positives."""
        self._check_fitted()
        return expit(np.asarray(positives @ self.coef_) + self.intercept_)

    def _weights(self, observed, *, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        neg = 1.0 - self.predict_proba(positives)
        neg[positives.toarray() > 0] = 0.0
        return np.ones(observed.shape), np.clip(neg, 0.0, 1.0)
