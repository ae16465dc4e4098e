"""The report's headline: per data set and missing ratio, which method did best, by how much, and how sure we are.

For each data set and ratio, every method that a user could run (observed-label weights, not an oracle) is scored
by :data:`HEADLINE_METRIC` (micro-F1) under its **own** threshold policy (``own_policy`` of its records: the
decision rule it is meant to be used with; ``fixed``, 0.5, where it has none or its records lack that policy's
metrics), averaged over its finished folds. The *best* is the highest mean. Its margins are paired differences,
fold by fold (the same fold and seed, so the same test rows):

* over **BCE** (``bce`` at its own policy, 0.5): the plain baseline every method claims to beat;
* over the **best baseline**: the best of the other methods (the runner-up), so that a margin over a weak BCE
  alone does not read as a win.

Each margin is reported as the mean paired difference ``d̄`` with a 95 % t interval over the ``n`` pairs,
``d̄ ± t_{0.975, n-1} · s_d / √n``, and the paired t-test's two-sided p-value; with one pair neither exists (shown
as such). These are test-fold figures that *report* the grid's result; nothing is chosen on them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlml.reports.records import as_float, method_rank
from mlml.reports.tables import METRIC_NAMES, policy_metrics

#: The metric the headline ranks methods by: a decision metric, so the policy matters.
HEADLINE_METRIC = "micro_f1"
BASELINE = "bce"


@dataclass(frozen=True)
class Margin:
    """A paired difference of the best method over another, fold by fold: its mean, the 95 % t interval
    (``low``, ``high``; NaN with fewer than two pairs), the paired t-test's p-value and the number of pairs."""

    other: str
    policy: str
    mean: float
    low: float
    high: float
    p_value: float
    n: int

    def text(self, digits: int = 3) -> str:
        """``+0.012 (95% CI −0.003 to +0.027, p = 0.09, 5 folds)``."""
        if self.n == 0:
            return "no paired folds"
        if self.n < 2:
            return f"{self.mean:+.{digits}f} (1 fold: no interval)"
        return (f"{self.mean:+.{digits}f} (95% CI {self.low:+.{digits}f} to {self.high:+.{digits}f}, "
                f"{_p(self.p_value)}, {self.n} folds)")


@dataclass(frozen=True)
class Headline:
    """One data set and ratio: the best method with its own policy, its mean ± std, and its margins."""

    dataset: str
    ratio: float
    method: str
    policy: str
    mean: float
    std: float
    n_folds: int
    over_bce: Margin | None  # None: the best is BCE, or BCE did not run
    over_best_other: Margin | None  # None: no other method ran
    n_methods: int

    def sentence(self) -> str:
        metric = METRIC_NAMES.get(HEADLINE_METRIC, HEADLINE_METRIC)
        text = (f"{self.dataset}, ratio {self.ratio:g}: best {self.method} with its own policy ({self.policy}), "
                f"{metric} {self.mean:.3f} ± {self.std:.3f} over {self.n_folds} folds")
        if self.over_bce is not None:
            text += f"; over BCE {self.over_bce.text()}"
        elif self.method == BASELINE:
            text += "; BCE itself is the best"
        if self.over_best_other is not None:
            text += f"; over the best other method ({self.over_best_other.other}) {self.over_best_other.text()}"
        return text + "."


def headlines(records: Sequence[Mapping[str, Any]]) -> list[Headline]:
    """A :class:`Headline` per data set and ratio of the finished, non-oracle, observed-weights ``records``
    (data sets sorted, ratios ascending); none where no such method finished."""
    scores: dict[tuple[str, float], dict[str, dict[tuple[int, int], float]]] = {}
    policies: dict[tuple[str, float, str], str] = {}
    for record in records:
        if record["status"] != "done" or record.get("oracle") or record.get("weights_source") != "observed":
            continue
        by_policy = policy_metrics(record)
        policy = record.get("own_policy") or "fixed"
        if by_policy.get(policy) is None:
            policy = "fixed"
        value = as_float((by_policy.get(policy) or {}).get(HEADLINE_METRIC))
        if math.isnan(value):
            continue
        key = (record["dataset"], record["ratio"])
        scores.setdefault(key, {}).setdefault(record["method"], {})[(record["fold"], record["seed"])] = value
        policies[(*key, record["method"])] = policy
    out = []
    for (dataset, ratio) in sorted(scores):
        folds = scores[(dataset, ratio)]
        ranked = sorted(folds, key=lambda m: (-float(np.mean(list(folds[m].values()))), method_rank(m)))
        best = ranked[0]
        values = np.asarray(list(folds[best].values()))
        others = [m for m in ranked[1:]]
        out.append(Headline(
            dataset=dataset, ratio=ratio, method=best, policy=policies[(dataset, ratio, best)],
            mean=float(values.mean()), std=float(values.std(ddof=1)) if values.size > 1 else math.nan,
            n_folds=int(values.size),
            over_bce=(paired_margin(folds[best], folds[BASELINE], BASELINE, policies[(dataset, ratio, BASELINE)])
                      if BASELINE in folds and best != BASELINE else None),
            over_best_other=(paired_margin(folds[best], folds[others[0]], others[0],
                                           policies[(dataset, ratio, others[0])]) if others else None),
            n_methods=len(folds),
        ))
    return out


def paired_margin(best: Mapping[Any, float], other: Mapping[Any, float], name: str, policy: str) -> Margin:
    """The mean of ``best[k] - other[k]`` over the keys (fold, seed) both hold, its 95 % t interval and the paired
    t-test's two-sided p-value (see the module docstring)."""
    from scipy import stats

    keys = sorted(set(best) & set(other))
    d = np.asarray([best[k] - other[k] for k in keys], dtype=np.float64)
    if d.size == 0:
        return Margin(name, policy, math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if d.size < 2:
        return Margin(name, policy, mean, math.nan, math.nan, math.nan, 1)
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, d.size - 1)) * sd / math.sqrt(d.size)
    if sd == 0.0:  # identical differences: the interval is the point; no test without spread (as scipy's)
        p = math.nan if mean == 0.0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(d.size)), d.size - 1))
    return Margin(name, policy, mean, mean - half, mean + half, p, int(d.size))


def headline_table(items: Sequence[Headline]) -> tuple[list[str], list[list[str]]]:
    """The headline as a table: header and rows of cells."""
    metric = METRIC_NAMES.get(HEADLINE_METRIC, HEADLINE_METRIC)
    header = ["dataset", "ratio", "best method (own policy)", metric, "over BCE", "over the best other method",
              "methods"]
    body = []
    for h in items:
        std = "" if math.isnan(h.std) else f" ± {h.std:.3f}"
        body.append([
            h.dataset, f"{h.ratio:g}", f"{h.method} ({h.policy})", f"{h.mean:.3f}{std}",
            h.over_bce.text() if h.over_bce is not None else ("(is BCE)" if h.method == BASELINE else "–"),
            (f"{h.over_best_other.other}: {h.over_best_other.text()}" if h.over_best_other is not None else "–"),
            str(h.n_methods),
        ])
    return header, body


def _p(value: float) -> str:
    return "p = nan" if math.isnan(value) else ("p < 0.001" if value < 0.001 else f"p = {value:.3f}")
