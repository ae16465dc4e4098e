"""Selection criteria: how well a candidate model did, read from the validation rows' OBSERVED labels alone.

Every criterion takes a candidate's probabilities on the validation rows, ``S`` ``(n_val, n_labels)``, and what a
user has: the validation rows' observed labels ``Y`` (1 positive, 0 suspect zero, 2 verified negative, -1
unknown), and for the posterior the TRAINING rows' observed labels. No hidden mask and no test label is read. Larger
is better for every criterion.

=================  ==================================================================================================
criterion          value
=================  ==================================================================================================
``observed-map``   mean AP of ``S`` against ``Y`` with every observed zero a negative: the biased baseline (a
                   missing positive ranked high counts as a false positive), what early stopping uses.
``pu-auc``         mean over classes of the ROC-AUC of the observed positives against the rest (zeros and verified
                   negatives). If each positive of class ``c`` is observed with probability ``η_c`` independently
                   of ``x``, the rest mixes the true negatives with a fraction ``π'_c`` of missing positives, and
                   ``AUC_PU = (1 − π'_c) AUC + π'_c / 2``: an increasing affine function of the clean AUC (Menon,
                   van Rooyen, Ong & Williamson, ICML 2015, "Learning from Corrupted Binary Labels via
                   Class-Probability Estimation", Sec. 6; Jain, White & Radivojac 2017 for PU). The affinity is
                   per class, so two candidates keep their order class by class.
``soft-map``       mean AP of ``S`` against the *soft truth* ``t = y + (1 − y) q``: an observed zero counts as a
                   positive of weight ``q`` and a negative of weight ``1 − q``, ``q`` its posterior of being a
                   missing positive from a labels-only co-occurrence estimator fitted on the training rows'
                   observed labels (:func:`mlml.evaluation.policies.posterior`, ``pairwise-noisy-or``).
``lee-liu``        ``r² / P(ŷ = 1)`` of decisions ``ŷ``, pooled over entries: ``r`` the recall of the observed
                   positives, ``P(ŷ = 1)`` the share of known entries predicted positive. Under positives
                   observed at random ``r`` estimates the true recall and ``r² / P(ŷ = 1) = p r / P(y = 1)``,
                   which grows with ``p r`` as F1 does (Lee & Liu, ICML 2003, "Learning with Positive and
                   Unlabeled Examples Using Weighted Logistic Regression", Sec. 3). It scores DECISIONS: the
                   auto selection reads it for threshold policies (:func:`lee_liu`), and for candidates at the
                   policy chosen for each.
``rehide-ap``      re-hiding: before training, a further share of the validation rows' observed positives is
``rehide-auc``     hidden with the simulation's own scheme (:func:`rehide`); the candidate trains and early-stops
                   without them. Then, among the entries that are unlabelled after re-hiding (zeros; ``-1`` for
                   partial labels), how well ``S`` ranks the re-hidden positives above the rest: mean AP (or
                   ROC-AUC) over classes with a re-hidden positive. Those positives are a random sample of missing
                   positives of the same mechanism, so this measures exactly the task -- finding missing positives
                   among unlabelled entries -- on labels the user has (the validation protocol of Kanehira &
                   Harada, CVPR 2016, "Multi-label Ranking from Positive and Unlabeled Data", and of the
                   "hide some known positives" checks of Cole et al., CVPR 2021, applied to model selection).
=================  ==================================================================================================

Undefined cases: a class with no positive (or nothing to rank it against) among the scored entries is left out of
the mean; a criterion with no defined class is NaN, and NaN candidates rank last.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlml._validation import RandomState
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, to_dense

#: The ranking criteria of the candidates (``lee-liu`` scores decisions; see the module docstring).
CRITERIA: tuple[str, ...] = ("observed-map", "pu-auc", "soft-map", "lee-liu", "rehide-ap", "rehide-auc")


def _checked(scores: Any, observed: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = to_dense(observed)
    if s.shape != y.shape:
        raise MLMLError(f"A selection criterion got scores of shape {s.shape} and labels of shape {y.shape}.")
    return s, y


def _mean_defined(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def observed_map(scores: Any, observed: LabelMatrix) -> float:
    """Mean AP against the observed labels, zeros and verified negatives counted negative, ``-1`` left out (the
    biased baseline; see the module docstring)."""
    from mlml.evaluation import ranking_metrics

    s, y = _checked(scores, observed)
    ap, _ = ranking_metrics(s, y == POSITIVE, y != UNKNOWN)
    return _mean_defined(_defined(ap, y == POSITIVE, (y != UNKNOWN) & (y != POSITIVE)))


def pu_auc(scores: Any, observed: LabelMatrix) -> float:
    """Mean per-class ROC-AUC of the observed positives against the rest (Menon et al. 2015; see the module
    docstring)."""
    from mlml.evaluation import ranking_metrics

    s, y = _checked(scores, observed)
    _, auc = ranking_metrics(s, y == POSITIVE, y != UNKNOWN, ap=False)
    return _mean_defined(auc)


def soft_map(scores: Any, observed: LabelMatrix, q: np.ndarray) -> float:
    """Mean AP against the soft truth ``t = y + (1 − y) q`` (see the module docstring).

    Each known entry enters the precision-recall curve as a positive of weight ``t`` and a negative of weight
    ``1 − t``: with entries sorted by decreasing score and ties grouped, ``AP = Σ_k (R_k − R_{k−1}) P_k`` where
    ``R_k = Σ_{j ≤ k} t_j / Σ t`` and ``P_k = Σ_{j ≤ k} t_j / k`` (scikit-learn's ``average_precision_score``
    with the entries duplicated and weighted, to which the tests compare it). A class whose soft positives sum to
    zero is left out.
    """
    s, y = _checked(scores, observed)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != y.shape:
        raise MLMLError(f"soft_map: q has shape {q.shape}; the observed labels {y.shape}.")
    truth = np.where(y == POSITIVE, 1.0, np.where(y == 0, np.clip(q, 0.0, 1.0), 0.0))
    known = y != UNKNOWN
    values = np.full(y.shape[1], np.nan)
    for c in range(y.shape[1]):
        keep = known[:, c]
        values[c] = _weighted_ap(s[keep, c], truth[keep, c])
    return _mean_defined(values)


def _weighted_ap(scores: np.ndarray, truth: np.ndarray) -> float:
    """AP with soft positives (weight ``truth``) and soft negatives (``1 − truth``), ties grouped."""
    total = truth.sum()
    if total <= 0 or not len(scores):
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the end of every tie group
    tp = np.cumsum(t)[last]
    seen = (last + 1).astype(np.float64)  # positive and negative weights of each entry add up to one
    recall = tp / total
    precision = tp / seen
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def lee_liu(decisions: Any, observed: LabelMatrix) -> float:
    """``r² / P(ŷ = 1)`` pooled over the known entries (Lee & Liu 2003; see the module docstring): ``r`` the share
    of observed positives predicted positive, ``P(ŷ = 1)`` the share of known entries predicted positive. NaN with
    no observed positive; 0 when nothing is predicted positive."""
    d, y = _checked(decisions, observed)
    known = y != UNKNOWN
    n_pos = np.count_nonzero(y == POSITIVE)
    if not n_pos:
        return float("nan")
    predicted = (d >= 0.5) & known
    r = np.count_nonzero(predicted & (y == POSITIVE)) / n_pos
    share = np.count_nonzero(predicted) / max(np.count_nonzero(known), 1)
    return float(r * r / share) if share > 0 else 0.0


def rehide(observed: LabelMatrix, share: float, *, scheme: str, random_state: RandomState = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Hide a further ``share`` of the observed positives of ``observed`` (validation rows) with the simulation's
    own ``scheme`` (:func:`mlml.simulate.hide_positives`): ``uniform`` as it is; ``partial`` keeps each label with
    probability ``1 − share`` (re-hidden positives become ``-1``). The schemes whose counts are fixed per row or
    class re-hide each positive independently with probability ``share`` (``uniform``), their expectation:
    ``per-sample``'s ``round(share · n_i)`` hides nothing of a row left with one positive (numpy rounds 0.5 to 0),
    which is every row after the paper's r = 0.5 on a set of at most three labels per row (emotions);
    ``single-positive`` leaves one positive per row; ``per-class`` rates belong to the original labels.

    Returns:
        ``(rehidden, mask)``: the dense int8 labels the candidate trains and early-stops with, and the bool mask
        of the re-hidden positives.
    """
    from mlml.simulate import hide_positives

    y = to_dense(observed)
    if not 0.0 < float(share) < 1.0:
        raise MLMLError(f"The 'rehide' share must be in (0, 1). Got {share!r} instead.")
    if scheme == "partial":
        out, mask = hide_positives(y, 1.0 - share, scheme="partial", random_state=random_state)
    else:  # uniform; per-sample, single-positive and per-class in expectation (see above)
        out, mask = hide_positives(y, share, scheme="uniform", random_state=random_state)
    return np.asarray(out, dtype=np.int8), np.asarray(mask, dtype=bool)


def rehide_scores(scores: Any, rehidden: LabelMatrix, mask: np.ndarray) -> tuple[float, float]:
    """``(AP, ROC-AUC)``: how well ``scores`` rank the re-hidden positives (``mask``) among the entries that are
    unlabelled after re-hiding (``0``, or ``-1`` where re-hiding made labels unannotated), mean over classes with
    a re-hidden positive (see the module docstring)."""
    from mlml.evaluation import ranking_metrics

    s, y = _checked(scores, rehidden)
    mask = np.asarray(mask, dtype=bool)
    candidates = (y == 0) | (y == UNKNOWN) if (y[mask] == UNKNOWN).any() else y == 0
    candidates |= mask
    ap, auc = ranking_metrics(s, mask, candidates)
    defined = mask.any(axis=0) & (candidates & ~mask).any(axis=0)
    return _mean_defined(np.where(defined, ap, np.nan)), _mean_defined(np.where(defined, auc, np.nan))


def _defined(values: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """``values`` with NaN where a class has no positive or no negative."""
    return np.where(positive.any(axis=0) & negative.any(axis=0), values, np.nan)


def candidate_criteria(scores: Any, observed: LabelMatrix, *, q: np.ndarray | None = None,
                       rehidden: LabelMatrix | None = None, mask: np.ndarray | None = None,
                       decisions: Any = None) -> dict[str, float]:
    """Every criterion of :data:`CRITERIA` one candidate can be given (a missing input gives NaN): ``observed``
    the validation rows' observed labels, ``q`` their zeros' posterior, ``rehidden``/``mask`` the re-hidden labels
    (:func:`rehide`), ``decisions`` 0/1 predictions for ``lee-liu``."""
    nan = float("nan")
    out = {"observed-map": observed_map(scores, observed), "pu-auc": pu_auc(scores, observed),
           "soft-map": soft_map(scores, observed, q) if q is not None else nan,
           "lee-liu": lee_liu(decisions, observed) if decisions is not None else nan}
    if rehidden is not None and mask is not None and np.any(mask):
        out["rehide-ap"], out["rehide-auc"] = rehide_scores(scores, rehidden, mask)
    else:
        out["rehide-ap"] = out["rehide-auc"] = nan
    return out


def kendall_tau(a: Any, b: Any) -> float:
    """Kendall's τ-b between two orderings of the same candidates (NaN entries of either left out; NaN with fewer
    than two candidates or a constant side)."""
    from scipy.stats import kendalltau

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 2 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(kendalltau(a[keep], b[keep]).statistic)
