"""What ``mlml data info SOURCE`` prints: the standard multi-label statistics of a data set.

With ``Y`` the ``(n, C)`` 0/1 label matrix: label cardinality ``sum(Y) / n`` (mean positives per sample),
label density ``cardinality / C``, and the number of distinct label patterns (distinct rows of ``Y``), as in
Tsoumakas et al.'s MULAN tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.data.dataset import Dataset
from mlml.data.duplicates import describe_duplicates, duplicate_report
from mlml.labels import label_counts, positives_per_sample


def _distinct_rows(labels: np.ndarray | sp.csr_matrix) -> int:
    """Distinct patterns of positives (a CSR's stored -1 and 2 entries are not positives)."""
    if sp.issparse(labels):
        return _distinct_sparse_rows(sp.csr_matrix(labels))
    packed = np.packbits(np.asarray(labels) == 1, axis=1)
    return int(np.unique(packed, axis=0).shape[0])


def _distinct_sparse_rows(csr: sp.csr_matrix) -> int:
    """Distinct sets of positive columns (stored ``1`` entries) among CSR rows, without densifying: rows are
    grouped by a 64-bit hash of their positive columns and every row is compared with the first of its group; a
    group whose rows differ (a hash collision) is counted exactly."""
    from mlml.data.duplicates import _rows_equal, label_row_hashes

    positives = sp.csr_matrix(csr == 1, dtype=np.int8)
    positives.sort_indices()
    hashes = label_row_hashes(positives)
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    first = np.repeat(order[starts], np.diff(np.r_[starts, ordered.size]))
    same = _rows_equal(positives, order, first)
    if same.all():
        return int(starts.size)
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, ordered.size]))
    colliding = np.unique(group[~same])
    exact = 0
    for g in colliding:
        members = order[group == g]
        exact += len({tuple(positives.indices[positives.indptr[i] : positives.indptr[i + 1]].tolist())
                      for i in members})
    return int(starts.size - colliding.size + exact)


def describe(dataset: Dataset, *, top: int = 15) -> dict[str, Any]:
    """Statistics of ``dataset`` as a JSON-friendly dict.

    Keys: ``name``, ``source``, ``n_samples``, ``n_features`` (None for images), ``feature_kind``
    (``dense``/``sparse``/``images``), ``n_labels``, ``cardinality``, ``density``, ``distinct_patterns``,
    ``empty_samples`` (no positive), ``positives_per_sample`` (min, max), ``top_labels`` (the ``top`` most
    frequent as ``[name, count, fraction]``, ties by column order), ``duplicates`` (identical samples of this
    data set, as :func:`mlml.data.duplicates.duplicate_report` gives), ``filters`` and ``notes`` (from the
    provenance), ``files`` (read) and ``skipped_files`` (``{"file", "reason"}``, e.g. a MULAN folder's
    train/test files when the complete file was read), and ``annotations``: None for complete labels, else the
    share of each state of partial annotations (``positive``, ``verified_negative``, ``suspect_zero``,
    ``unannotated``; :mod:`mlml.labels`), and ``missing_share``: the estimated share of missing positives
    ``{"estimate", "low", "high"}`` from :func:`mlml.diagnose.diagnose` (labels only, 100 bootstrap replicates;
    None where it cannot be estimated, e.g. too many label entries; ``mlml diagnose`` gives the detail).
    """
    labels = dataset.labels
    per_sample = positives_per_sample(labels)
    counts = label_counts(labels)
    order = np.argsort(-counts, kind="stable")[:top]
    cardinality = float(per_sample.mean())
    if dataset.image_paths is not None:
        kind = "images"
    elif dataset.features is None:
        kind = "none"
    else:
        kind = "sparse" if sp.issparse(dataset.features) else "dense"
    provenance = dataset.provenance
    return {
        "name": dataset.name,
        "source": provenance.get("source", ""),
        "n_samples": dataset.n_samples,
        "n_features": dataset.n_features,
        "feature_kind": kind,
        "n_labels": dataset.n_labels,
        "cardinality": cardinality,
        "density": cardinality / dataset.n_labels,
        "distinct_patterns": _distinct_rows(labels),
        "empty_samples": int((per_sample == 0).sum()),
        "positives_per_sample": [int(per_sample.min()), int(per_sample.max())],
        "top_labels": [
            [dataset.label_names[c], int(counts[c]), float(counts[c]) / dataset.n_samples] for c in order
        ],
        "duplicates": duplicate_report(dataset),
        "filters": list(provenance.get("filters", [])),
        "notes": list(provenance.get("notes", [])),
        "files": list(provenance.get("files", [])),
        "skipped_files": list(provenance.get("skipped_files", [])),
        "annotations": _annotation_shares(labels) if dataset.partial else None,
        "missing_share": _missing_share(labels),
    }


def _missing_share(labels: np.ndarray | sp.csr_matrix) -> dict[str, float | None] | None:
    """The labels-only overall estimate of :func:`mlml.diagnose.diagnose`, or None where it does not apply."""
    from mlml.diagnose import DEFAULT_BOOTSTRAP, MAX_ENTRIES, MAX_LABEL_EVIDENCE, diagnose

    n, n_labels = labels.shape
    if n * n_labels > MAX_ENTRIES or n_labels > MAX_LABEL_EVIDENCE or n < 6:
        return None
    # the defaults of ``mlml diagnose SOURCE --features none``: the same estimate and interval
    result = diagnose(labels, evidence="labels", n_bootstrap=DEFAULT_BOOTSTRAP, random_state=0)
    result = result.to_dict()["missing_share"]
    return None if result["estimate"] is None else result


def _annotation_shares(labels: np.ndarray | sp.csr_matrix) -> dict[str, float]:
    """The share of the entries in each state of partial annotations."""
    from mlml.labels import POSITIVE, UNKNOWN, VERIFIED_NEGATIVE

    total = labels.shape[0] * labels.shape[1]
    values = labels.data if sp.issparse(labels) else np.asarray(labels).ravel()
    counts = {name: int(np.count_nonzero(values == value))
              for name, value in (("positive", POSITIVE), ("verified_negative", VERIFIED_NEGATIVE),
                                  ("unannotated", UNKNOWN))}
    counts["suspect_zero"] = total - sum(counts.values())
    return {name: count / total for name, count in counts.items()}


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of a :func:`describe` dict (what ``mlml data info`` prints)."""
    if info["feature_kind"] == "images":
        features = "images (no precomputed features)"
    elif info["feature_kind"] == "none":
        features = "none"
    else:
        features = f"{info['n_features']:,} ({info['feature_kind']})"
    lines = [
        f"data set        {info['name']}" + (f"  [{info['source']}]" if info.get("source") else ""),
        f"samples         {info['n_samples']:,}",
        f"features        {features}",
        f"labels          {info['n_labels']:,}",
        f"cardinality     {info['cardinality']:.3f}  (positives per sample, "
        f"min {info['positives_per_sample'][0]}, max {info['positives_per_sample'][1]})",
        f"density         {info['density']:.4f}",
        f"distinct label patterns  {info['distinct_patterns']:,}",
        f"samples without a positive  {info['empty_samples']:,}",
        *([] if not info.get("annotations") else [
            "partial annotations  " + ", ".join(f"{name.replace('_', ' ')} {share:.2%}"
                                                 for name, share in info["annotations"].items())]),
        *([] if not info.get("missing_share") else [
            f"missing positives  about {info['missing_share']['estimate']:.0%} estimated from the labels "
            f"({info['missing_share']['confidence']:.0%} interval {info['missing_share']['low']:.0%} - "
            f"{info['missing_share']['high']:.0%}; too high where labels do not imply each other; "
            "`mlml diagnose --features none` gives the same, with the detail)"]),
        f"duplicates      {describe_duplicates(info['duplicates'])}",
        f"most frequent labels ({len(info['top_labels'])}):",
    ]
    width = max((len(name) for name, _, _ in info["top_labels"]), default=0)
    lines += [
        f"  {name:<{width}}  {count:>8,}  {fraction:6.1%}" for name, count, fraction in info["top_labels"]
    ]
    if info["filters"]:
        lines.append("filters:")
        for step in info["filters"]:
            text = f"  {step['filter']}={step['value']!r}: removed {step['removed_samples']:,} samples"
            if step.get("removed_labels"):
                text += f" and {step['removed_labels']:,} labels"
            if step.get("removed_files"):
                shown = ", ".join(step["removed_files"][:5])
                more = len(step["removed_files"]) - 5
                text += f" ({shown}{f', ... {more} more' if more > 0 else ''})"
            lines.append(text)
    else:
        lines.append("filters:        none")
    for note in info["notes"]:
        lines.append(f"note: {note}")
    if info.get("files"):
        lines.append("files read:")
        lines += [f"  {file}" for file in info["files"]]
    if info.get("skipped_files"):
        lines.append("files skipped:")
        lines += [f"  {skip['file']}: {skip['reason']}" for skip in info["skipped_files"]]
    return "\n".join(lines)
