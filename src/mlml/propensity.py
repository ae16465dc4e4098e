"""Label propensities of Jain et al. (KDD 2016): the chance that a relevant label is observed.

Jain, Prabhu and Varma, "Extreme Multi-label Loss Functions for Recommendation, Tagging, Ranking & Other Missing
Label Applications" (KDD 2016), model the propensity of label ``l`` -- the probability that a relevant label is
annotated -- from its frequency alone::

    p_l = 1 / (1 + C e^{−A log(N_l + B)}) = 1 / (1 + C (N_l + B)^{−A}),    C = (log N − 1)(B + 1)^A

with ``N`` the number of training samples and ``N_l`` the number of them where ``l`` is (observed) positive
(for ``N < e`` the constant ``C`` turns negative; ``p_l`` is then clipped at 1);
``A = 0.55`` and ``B = 1.5`` by default (the XC repository's values for most data sets; 0.5 / 0.4 for Wikipedia,
0.6 / 2.6 for Amazon). Frequent labels get ``p_l`` near 1, tail labels small ones. The propensity-scored ranking
metrics (:mod:`mlml.evaluation.ranking`) and the propensity-scored losses (:mod:`mlml.losses.functional.propensity`)
both read these values; they are numpy-only so that either side can import them.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from mlml._params import Interval, validate_params
from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels, label_counts

#: Jain et al.'s defaults (the XC repository's values for data sets other than Wikipedia and Amazon).
DEFAULT_A = 0.55
DEFAULT_B = 1.5


#: What Jain et al.'s ``a`` and ``b`` may be (declared once, for :func:`inverse_propensity` and the losses).
AB_CONSTRAINTS = {"a": [Interval(Real, 0, None, closed="left")], "b": [Interval(Real, 0, None, closed="left")]}


def inverse_propensity(counts: np.ndarray, n_samples: int, *, a: float = DEFAULT_A, b: float = DEFAULT_B) -> np.ndarray:
    """``1 / p_l = 1 + C (N_l + B)^{−A}`` for every label (see the module docstring), float64 ``(n_labels,)``.

    Args:
        counts: ``(n_labels,)`` positives per label ``N_l`` (>= 0).
        n_samples: ``N``, the number of samples the counts come from (>= 1).
        a, b: Jain et al.'s ``A`` and ``B``.

    Raises:
        MLMLError: negative counts, ``n_samples < 1``, a bad ``a`` or ``b``.

    Example:
        >>> inverse_propensity(np.array([0, 10, 1000]), 10_000).round(3).tolist()
        [11.874, 4.547, 1.304]
    """
    params = validate_params({"a": a, "b": b}, AB_CONSTRAINTS, "inverse_propensity")
    a, b = params["a"], params["b"]
    counts = np.asarray(counts, dtype=np.float64).ravel()
    if counts.size and counts.min() < 0:
        raise MLMLError(f"Label counts must be >= 0. Got {counts.min()}.")
    if isinstance(n_samples, bool) or int(n_samples) < 1:
        raise MLMLError(f"The 'n_samples' parameter of inverse_propensity must be >= 1. Got {n_samples!r}.")
    c = (math.log(int(n_samples)) - 1.0) * (b + 1.0) ** a
    with np.errstate(divide="ignore"):  # N_l + B = 0 (B = 0, an unseen label): infinite inverse propensity
        inverse = 1.0 + c * np.power(counts + b, -a)
    return np.maximum(inverse, 1.0)  # N < e makes C < 0; a propensity is at most 1


def propensity(counts: np.ndarray, n_samples: int, *, a: float = DEFAULT_A, b: float = DEFAULT_B) -> np.ndarray:
    """``p_l = 1 / (1 + C (N_l + B)^{−A})``, float64 ``(n_labels,)`` (see :func:`inverse_propensity`)."""
    return 1.0 / inverse_propensity(counts, n_samples, a=a, b=b)


def label_propensity(labels: LabelMatrix, *, a: float = DEFAULT_A, b: float = DEFAULT_B) -> np.ndarray:
    """The propensities of a label matrix's labels: ``N`` its rows, ``N_l`` its positives per label (dense or CSR,
    ``-1`` entries are not positives)."""
    labels = check_labels(labels, name="labels")
    return propensity(label_counts(labels), labels.shape[0], a=a, b=b)
