"""The figures section of the run report: which figures a data set gets, drawn and saved under ``figures/``.

:func:`_figure_blocks` plans a data set's figures (metrics vs ratio per threshold policy, true positives per class,
weight diagnostics, AP vs frequency, the precision-recall trade-off, cardinality), draws each with
:mod:`mlml.reports.figures` and its siblings, saves PNG and PDF, and returns the report blocks; a figure that
cannot be drawn is named with the reason. :func:`_want_figures` says whether matplotlib is there to draw them.
:func:`mlml.reports.write_report` puts the blocks on the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlml.evaluation.policies import POLICIES
from mlml.exceptions import MLMLError
from mlml.record import TrialRecord
from mlml.reports.status import Block
from mlml.reports.tables import POLICY_HEADINGS

FIGURE_DIR = "figures"
#: The per-class figure shows this many of the most frequent classes (the paper's Fig. 3: 15).
TOP_CLASSES = 15


def _want_figures(figures: bool | None) -> bool | str:
    """True to draw, else the sentence the report shows instead."""
    if figures is False:
        return "Figures were not requested for this report."
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if figures:
            raise MLMLError("write_report(figures=True) needs matplotlib: pip install 'mlml[plot]'") from None
        return (
            "Figures skipped: matplotlib is not installed "
            "(pip install 'mlml[plot]', then run `mlml report` again)."
        )
    return True


def _slugs(datasets: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for dataset in datasets:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset).strip("-.") or "dataset"
        base, k = slug, 2
        while slug in out.values():
            slug, k = f"{base}-{k}", k + 1
        out[dataset] = slug
    return out


def _figure_ratio(records: Sequence[TrialRecord]) -> float | None:
    """0.5 (the paper's Fig. 3) when present, else the missing ratio closest to it (positive ratios first)."""
    ratios = sorted({r.ratio for r in records})
    if not ratios:
        return None
    positive = [r for r in ratios if r > 0] or ratios
    return min(positive, key=lambda r: (abs(r - 0.5), r))


def _figure_blocks(
    records: Sequence[TrialRecord],
    rows: Sequence[Mapping[str, Any]],
    dataset: str,
    run_dir: Path,
    slug: str,
) -> list[Block]:
    from mlml.reports import decision_figures as P
    from mlml.reports import diagnostic_figures as D
    from mlml.reports import figures as F
    from mlml.reports.partial_figures import ratio_label

    done = [r for r in records if r.dataset == dataset and r.status == "done"]
    ds_rows = [row for row in rows if row["dataset"] == dataset and row["n_folds"] > 0]
    blocks: list[Block] = [("h", 3, "Figures")]
    if not done:
        return blocks + [("p", "No finished trial: nothing to draw.")]
    ratio = _figure_ratio(done)
    at_ratio = [r for r in done if r.ratio == ratio]
    axis = ratio_label(next((r.scheme for r in done if r.scheme), None))
    plans: list[tuple[str, str, Any]] = []
    if any(row["threshold"] == "fixed" for row in ds_rows):
        plans.append(
            (
                "metrics_vs_ratio",
                f"Metrics vs {axis}, threshold 0.5 (the paper's Fig. 1/2; mean ± std over folds).",
                lambda: F.plot_metrics_vs_ratio(ds_rows, dataset=dataset, xlabel=axis),
            )
        )
    for mode in POLICIES[1:]:
        if any(row["threshold"] == mode for row in ds_rows):
            plans.append(
                (
                    f"metrics_vs_ratio_{mode}",
                    f"Metrics vs {axis}, {POLICY_HEADINGS[mode]}.",
                    lambda mode=mode: F.plot_metrics_vs_ratio(ds_rows, dataset=dataset, threshold=mode, xlabel=axis),
                )
            )
    n_classes = max((len((r.get("per_class") or {}).get("support") or ()) for r in at_ratio), default=0)
    own_methods = sorted({r["method"] for r in done if (r.get("own_policy") or "fixed") != "fixed"
                          and r.get("metrics_policies") and r["own_policy"] in r["metrics_policies"]})
    own_text = (f"; solid: the own policy of {', '.join(own_methods)}" if own_methods
                else "; no method here has an own policy other than 0.5")
    plans += [
        (
            f"true_positives_r{ratio:g}",
            f"True positives per class, the {min(TOP_CLASSES, n_classes)} most frequent classes"
            f"{' (all of them)' if n_classes <= TOP_CLASSES else ''}, ratio {ratio:g} (the paper's Fig. 3).",
            lambda: F.plot_true_positives(at_ratio, dataset=dataset, ratio=ratio, top_k=TOP_CLASSES),
        ),
        (
            f"weights_r{ratio:g}",
            (
                f"Confidence weights at ratio {ratio:g}: ω̄ on hidden positives vs true negatives, "
                "and the ROC of 1 − ω̄ for finding the hidden positives."
            ),
            lambda: D.plot_weight_diagnostics(at_ratio, dataset=dataset, ratio=ratio),
        ),
        (
            f"ap_vs_frequency_r{ratio:g}",
            f"Per-class average precision vs class frequency, ratio {ratio:g}.",
            lambda: D.plot_ap_vs_frequency(at_ratio, dataset=dataset, ratio=ratio),
        ),
        (
            f"pr_tradeoff_r{ratio:g}",
            f"Micro precision-recall trade-off at ratio {ratio:g} (mean over folds); circles: threshold 0.5"
            + (f"; stars: the own policy of {', '.join(own_methods)}." if own_methods else "."),
            lambda: P.plot_pr_tradeoff(at_ratio, dataset=dataset, ratio=ratio),
        ),
        (
            "cardinality",
            f"Labels predicted per test row vs the true cardinality, per missing ratio (dashed: threshold 0.5"
            f"{own_text}).",
            lambda: P.plot_cardinality(done, dataset=dataset),
        ),
    ]
    if ratio != 0.5:
        blocks.append(("p", f"No finished trial at ratio 0.5; per-class figures use ratio {ratio:g}."))
    for name, caption, draw in plans:
        try:
            fig, _ = draw()
        except MLMLError as exc:
            blocks.append(("p", f"Figure '{name}' skipped: {exc}"))
            continue
        png, pdf = F.save_figure(fig, run_dir / FIGURE_DIR / f"{slug}_{name}")
        blocks.append(
            ("figure", png.relative_to(run_dir).as_posix(), pdf.relative_to(run_dir).as_posix(), caption)
        )
    return blocks
