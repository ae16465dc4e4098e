"""What ``mlml diagnose`` prints, and the note that metrics on a user's own test labels are lower bounds.

:func:`format_diagnosis` is the terminal text of a :class:`mlml.diagnose.Diagnosis`; :func:`test_label_note` is
the note the commands that score on a user's labels attach (with the labels-only estimate of
:func:`mlml.diagnose.diagnose` where it applies); :func:`advice` the plain-language consequences for training.
"""

from __future__ import annotations

import math

from mlml.diagnose import MAX_ENTRIES, MAX_LABEL_EVIDENCE, Diagnosis, diagnose
from mlml.labels import LabelMatrix

INCOMPLETE_TEST_LABELS = (
    "these metrics are measured against the data set's own labels; where those are incomplete they are lower "
    "bounds: a correct prediction of a missing positive counts as a false positive (precision, F1, mAP and the "
    "ranking metrics drop), and recall is measured on the positives that were annotated"
)


def test_label_note(labels: LabelMatrix | None = None) -> str:
    """The note that metrics scored on a user's own (not simulated) test labels are lower bounds.

    With ``labels`` (the evaluated labels), the labels-only estimate of :func:`diagnose` (50 bootstrap
    replicates) is added where it applies (at most ``MAX_ENTRIES`` entries and ``MAX_LABEL_EVIDENCE`` labels).
    """
    note = "Incomplete test labels: " + INCOMPLETE_TEST_LABELS + "."
    if labels is None:
        return note + " `mlml diagnose SOURCE` estimates how many positives they miss."
    n, n_labels = labels.shape
    if n * n_labels > MAX_ENTRIES or n_labels > MAX_LABEL_EVIDENCE or n < 6:
        return note + " `mlml diagnose SOURCE` estimates how many positives they miss."
    result = diagnose(labels, evidence="labels", n_bootstrap=50, random_state=0)
    if not math.isfinite(result.missing_share):
        return note + " Too few observed positives to estimate how many are missing."
    return note + (f" Estimated from these labels alone: about {result.missing_share:.0%} of the positives missing "
                   f"({result.confidence:.0%} interval {result.low:.0%} - {result.high:.0%}; too high where labels "
                   "do not imply each other; `mlml diagnose` gives the detail).")


def format_diagnosis(diagnosis: Diagnosis, *, show: int = 15) -> str:
    """Readable text of a :class:`Diagnosis` (what ``mlml diagnose`` prints)."""
    d = diagnosis
    pct = lambda v: "n/a" if not math.isfinite(v) else f"{v:.1%}"  # noqa: E731
    lines = [
        f"estimated missing positives  {pct(d.missing_share)}  ({d.confidence:.0%} interval {pct(d.low)} - "
        f"{pct(d.high)}; " + (f"about {d.estimated_missing_positives:,.0f} missing beside " if math.isfinite(
            d.estimated_missing_positives) else "") + f"{d.observed_positives:,} observed)"
        if math.isfinite(d.missing_share) else "estimated missing positives  n/a",
        *([] if not math.isfinite(d.per_label_median) else [
            f"the labels' own estimates: median {pct(d.per_label_median)} (weighted by observed positives); the "
            "overall figure assumes one missing rate shared by the labels; where labels are missed at different "
            "rates it can be much higher (toward the labels' own figures, themselves mostly too high)"]),
        f"samples {d.n_samples:,}, labels {d.n_labels:,}, evidence: {d.evidence}, "
        f"samples without an observed positive: {d.empty_samples:,}",
        f"method: {d.method}",
    ]
    ranked = sorted((label for label in d.per_label if math.isfinite(label.missing_share)),
                    key=lambda label: (not label.used, -label.missing_share))
    if ranked:
        width = max(len(label.name) for label in ranked[:show])
        lines.append(f"labels with the highest estimates ({min(show, len(ranked))} of {len(ranked)}; per-label "
                     "figures are mostly too high, a ranking by suspicion):")
        lines += [f"  {label.name:<{width}}  {pct(label.missing_share):>6}  [{pct(label.low)} - {pct(label.high)}]  "
                  f"{label.observed_positives:,} observed" + ("" if label.used else "  (too few, not used)")
                  for label in ranked[:show]]
    if d.no_positive_labels:
        lines.append(f"labels without an observed positive ({len(d.no_positive_labels)}): "
                     + _names(d.no_positive_labels))
    if d.few_positive_labels:
        lines.append(f"labels with fewer than {d.min_positives} observed positives ({len(d.few_positive_labels)}): "
                     + _names(d.few_positive_labels))
    lines += [f"note: {note}" for note in d.notes]
    lines += [f"advice: {text}" for text in d.advice()]
    return "\n".join(lines)


def _names(names: list[str], limit: int = 20) -> str:
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f", ... {more} more" if more > 0 else "")


def advice(diagnosis: Diagnosis) -> list[str]:
    """Plain-language consequences of a :class:`Diagnosis` for training."""
    out = []
    share = diagnosis.missing_share
    median = diagnosis.per_label_median
    if math.isfinite(share):
        if share < 0.05 and math.isfinite(median) and median >= 0.05:  # the median label is not "few missing"
            out.append(f"The overall figure is small, but half of the labels' own figures are above {median:.0%}: "
                       "the figure assumes one missing rate shared by the labels and follows the labels with the "
                       "clearest evidence; if labels are missed at different rates, many positives may be missing. "
                       "Check the labels listed above before trusting plain BCE.")
        elif share < 0.05:
            out.append("Few positives seem to be missing: plain BCE (`--method bce`) treats the zeros as negatives "
                       "and loses little.")
        elif share < 0.3:
            out.append("A moderate share of positives is missing: use a method that down-weights suspect zeros "
                       "(see `mlml methods`) and a threshold policy that does not trust observed zeros "
                       "(`--thresholds calibrated` or `cardinality`).")
        else:
            out.append("Many positives are missing: plain BCE learns to predict the missing labels as absent. Use a "
                       "missing-label method (see `mlml methods`) and a policy that does not trust observed zeros "
                       "(`--thresholds calibrated`); precision, F1 and mAP measured on these labels are lower "
                       "bounds.")
    if diagnosis.no_positive_labels:
        out.append(f"{len(diagnosis.no_positive_labels)} label(s) have no observed positive: no model can learn "
                   "them from these labels; drop them (`--min-label-frequency`) or annotate some positives.")
    if diagnosis.few_positive_labels:
        out.append(f"{len(diagnosis.few_positive_labels)} label(s) have fewer than {diagnosis.min_positives} observed "
                   "positives: their estimates and their test metrics are unreliable.")
    if diagnosis.empty_samples:
        out.append(f"{diagnosis.empty_samples:,} sample(s) have no observed positive; if every sample should carry "
                   "a label, those have lost all of theirs.")
    return out
