"""mlml.reports: summary statistics, the results.csv contract, tables, figures and the run report."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

import mlml
from mlml.evaluation import SCALAR_METRICS, evaluate, tune_thresholds
from mlml.exceptions import DataError, MLMLError
from mlml.reports import (
    LEAK_TAG,
    ORACLE_TAG,
    RESULT_COLUMNS,
    RESULT_METRICS,
    markdown_table,
    summarize,
    terminal_table,
    write_report,
    write_results_csv,
)
from mlml.reports import diagnostic_figures as D
from mlml.reports import figures as F
from mlml.reports.report_figures import _slugs

#: Figures need matplotlib, an optional dependency (the 'plot' extra): their tests skip where it is absent.
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed (pip install 'mlml[plot]')"
)
CLASSES = [f"class{j}" for j in range(18)]
METHODS = [
    ("bce", "observed", False),
    ("im-wce", "observed", True),
    ("cb-wce", "observed", False),
    ("cb-wce", "complete", False),
]


def _record(dataset, method, source, oracle, ratio, fold, seed, rng, *, tuned=True):
    """A record as the runner stores it, with metrics from evaluate() on random labels and scores."""
    n, c = 120, len(CLASSES)
    y = (rng.random((n, c)) < np.linspace(0.05, 0.45, c)).astype(np.int8)
    skill = 0.5 - 0.3 * ratio + (0.1 if source == "complete" else 0.0)
    scores = np.clip(skill * y + rng.random((n, c)) * (1 - skill), 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(y, scores)
        tuned_result = evaluate(y, scores, threshold=tune_thresholds(y, scores)) if tuned else None
    diagnostics = None
    if method == "cb-wce":
        hidden = rng.beta(2, 5, size=60)
        negative = rng.beta(5, 2, size=300)
        truth = np.r_[np.ones(hidden.size), np.zeros(negative.size)]
        score = 1 - np.r_[hidden, negative]
        fpr, tpr, _ = roc_curve(truth, score)
        diagnostics = {
            "neg_weight_hidden": hidden.tolist(),
            "neg_weight_negative": negative.tolist(),
            "detection_auc": roc_auc_score(truth, score),
            "detection_ap": 0.5,
            "roc_fpr": fpr.tolist(),
            "roc_tpr": tpr.tolist(),
        }
    return {
        "trial_id": f"{dataset}-{method}-{source}-r{ratio}-f{fold}-s{seed}",
        "dataset": dataset,
        "method": method,
        "ratio": ratio,
        "fold": fold,
        "seed": seed,
        "status": "done",
        "error": None,
        "weights_source": source,
        "oracle": oracle,
        "metrics": {k: result[k] for k in SCALAR_METRICS},
        "metrics_tuned": {k: tuned_result[k] for k in SCALAR_METRICS} if tuned else None,
        "per_class": {
            "names": CLASSES,
            "tp": result["per_class_tp"],
            "ap": result["per_class_ap"],
            "support": result["per_class_support"],
            "train_frequency": (y.mean(axis=0) + 0.01).tolist(),
        },
        "diagnostics": diagnostics,
        "timings": {"weights_s": 0.01, "train_s": 1.5, "eval_s": 0.02},
        "config_hash": "abc123",
        "own_policy": "tuned" if method == "cb-wce" else "fixed",
        "cardinality": {"true": float(y.sum(axis=1).mean()), "fixed": float((scores >= 0.5).sum(axis=1).mean()),
                        "tuned": float((scores >= 0.3).sum(axis=1).mean())},
        "pr_curve": _micro_pr(y, scores),
    }


def _micro_pr(y, scores):
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y.ravel(), scores.ravel())
    keep = np.unique(np.linspace(0, len(recall) - 1, 50).astype(int))
    return {"precision": precision[keep].tolist(), "recall": recall[keep].tolist()}


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    out = [
        _record("yeast", m, s, o, ratio, fold, 0, rng)
        for ratio in (0.0, 0.5, 0.75)
        for (m, s, o) in METHODS
        for fold in (1, 2, 3)
    ]
    failed = dict(
        out[0],
        trial_id="yeast-bce-observed-r0.0-f4-s0",
        fold=4,
        status="failed",
        metrics=None,
        metrics_tuned=None,
        per_class=None,
        diagnostics=None,
        error='Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: out of memory',
    )
    all_failed = dict(
        failed, trial_id="yeast-bce-observed-r0.25-f1-s0", ratio=0.25, fold=1, error="ValueError: bad thing"
    )
    return [*out, failed, all_failed]


# ------------------------------------------------------------------------------------------------ summary
def test_summarize_column_order_is_the_contract(records):
    rows = summarize(records)
    assert RESULT_COLUMNS == (
        "dataset",
        "method",
        "ratio",
        "n_folds",
        "micro_precision_mean",
        "micro_precision_std",
        "micro_recall_mean",
        "micro_recall_std",
        "micro_f1_mean",
        "micro_f1_std",
        "micro_auc_mean",
        "micro_auc_std",
        "map_mean",
        "map_std",
        "macro_f1_mean",
        "macro_f1_std",
    )
    for row in rows:
        assert list(row)[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)


def test_summarize_mean_and_std_over_folds(records):
    rows = summarize(records)
    # 3 ratios x 4 method series x 2 threshold modes, plus the all-failed group's 0.5 row.
    assert len(rows) == 3 * 4 * 2 + 1
    for row in rows:
        group = [
            r
            for r in records
            if r["dataset"] == row["dataset"]
            and r["method"] == row["method"]
            and r["ratio"] == row["ratio"]
            and r["weights_source"] == row["weights_source"]
        ]
        done = [r for r in group if r["status"] == "done"]
        field = "metrics" if row["threshold"] == "fixed" else "metrics_tuned"
        assert row["n_folds"] == len(done)
        assert row["n_failed"] == sum(r["status"] == "failed" for r in group)
        for metric in RESULT_METRICS + ("macro_auc",):
            values = np.array([r[field][metric] for r in done])
            if not done:
                assert math.isnan(row[f"{metric}_mean"]) and math.isnan(row[f"{metric}_std"])
                continue
            assert row[f"{metric}_mean"] == pytest.approx(values.mean(), abs=1e-12)
            assert row[f"{metric}_std"] == pytest.approx(values.std(ddof=1), abs=1e-12)


def test_summarize_labels_leak_and_oracle_and_orders_rows(records):
    rows = summarize(records, thresholds="fixed")
    labels = {(row["method"], row["weights_source"]): row["label"] for row in rows}
    assert LEAK_TAG in labels[("cb-wce", "complete")]
    assert ORACLE_TAG in labels[("im-wce", "observed")]
    assert labels[("bce", "observed")] == "bce" and labels[("cb-wce", "observed")] == "cb-wce"
    order = [(row["ratio"], row["method"], row["weights_source"]) for row in rows if row["ratio"] == 0.5]
    assert order == [
        (0.5, "bce", "observed"),
        (0.5, "im-wce", "observed"),
        (0.5, "cb-wce", "observed"),
        (0.5, "cb-wce", "complete"),
    ]
    assert all(row["threshold"] == "fixed" for row in rows)


def test_summarize_handles_none_and_nan_metrics(records):
    first, second = (dict(r, metrics=dict(r["metrics"])) for r in records[:2])
    first["metrics"]["micro_auc"] = None
    second["metrics"]["micro_auc"] = float("nan")
    rows = summarize([first, second, records[2]], thresholds="fixed")
    assert rows[0]["n_folds"] == 3
    assert rows[0]["micro_auc_mean"] == pytest.approx(records[2]["metrics"]["micro_auc"])
    assert math.isnan(rows[0]["micro_auc_std"])


def test_summarize_threshold_choice(records):
    untuned = [dict(r, metrics_tuned=None) if r["method"] == "bce" else r for r in records]
    tuned = summarize(untuned, thresholds="tuned")
    assert {row["threshold"] for row in tuned} == {"tuned"}
    # A group without tuned metrics keeps its row, with nothing averaged, so that the gap shows.
    bce = [row for row in tuned if row["method"] == "bce"]
    assert bce and all(row["n_folds"] == 0 and math.isnan(row["micro_f1_mean"]) for row in bce)
    both = summarize(untuned, thresholds="both")
    assert not [row for row in both if row["method"] == "bce" and row["threshold"] == "tuned"]
    assert len(summarize(untuned, thresholds="fixed")) == 3 * 4 + 1
    with pytest.raises(MLMLError, match="'thresholds'.*'fixed', 'tuned'.*'both', 'own', 'all'.*Got 'best'"):
        summarize(records, thresholds="best")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"status": "running"}, "'status'"),
        ({"weights_source": "test"}, "'weights_source'"),
        ({"ratio": 1.5}, "'ratio'"),
        ({"metrics": None}, "no 'metrics'"),
        ({"metrics": {"micro_f1": 0.5}}, "lack 'micro_precision'"),
    ],
)
def test_bad_records_name_the_trial(records, change, match):
    bad = dict(records[0], **change)
    with pytest.raises(DataError, match=match) as info:
        summarize([records[1], bad])
    assert records[0]["trial_id"] in str(info.value)


def test_record_without_required_field():
    with pytest.raises(DataError, match=r"#0 \(trial_id='t1'\) lacks the field\(s\) dataset"):
        summarize(
            [
                {
                    "trial_id": "t1",
                    "method": "bce",
                    "ratio": 0.5,
                    "fold": 1,
                    "seed": 0,
                    "status": "done",
                    "weights_source": "observed",
                    "oracle": False,
                }
            ]
        )
    with pytest.raises(DataError, match="must be a mapping"):
        summarize(["not a record"])


# ------------------------------------------------------------------------------------------ CSV and tables
def test_results_csv_contract(records, tmp_path):
    rows = summarize(records)
    path = write_results_csv(rows, tmp_path / "run" / "results.csv")
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    assert header[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    assert header[len(RESULT_COLUMNS) :][:4] == ["weights_source", "threshold", "oracle", "label"]
    assert len(body) == len(rows)
    for cells, row in zip(body, rows):
        parsed = dict(zip(header, cells))
        assert parsed["dataset"] == row["dataset"] and parsed["method"] == row["method"]
        assert float(parsed["ratio"]) == row["ratio"] and int(parsed["n_folds"]) == row["n_folds"]
        for metric in RESULT_METRICS:
            for stat in ("mean", "std"):
                value = row[f"{metric}_{stat}"]
                cell = parsed[f"{metric}_{stat}"]
                assert cell == "" if math.isnan(value) else float(cell) == value  # full precision
        assert parsed["oracle"] in ("true", "false")


def test_terminal_and_markdown_tables(records):
    rows = summarize(records)
    text = terminal_table(rows)
    md = markdown_table(rows)
    lines = md.splitlines()
    assert lines[0].startswith("| dataset | method | ratio | threshold | n | micro precision")
    assert len(lines) == len(rows) + 2
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    for rendered in (text, md):
        assert LEAK_TAG in rendered and ORACLE_TAG in rendered
        assert "±" in rendered and "tuned" in rendered and "(2 failed)" not in rendered
        assert "(1 failed)" in rendered
    row = next(r for r in rows if r["method"] == "bce" and r["ratio"] == 0.5 and r["threshold"] == "fixed")
    assert f"{row['micro_f1_mean']:.3f} ± {row['micro_f1_std']:.3f}" in md


# ------------------------------------------------------------------------------------------------ figures
def _png_ok(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def _legend_texts(ax):
    return F.legend_texts(ax.figure)


@needs_matplotlib
def test_metric_vs_ratio_figure(records, tmp_path):
    rows = summarize(records)
    fig, ax = F.plot_metric_vs_ratio(rows, "micro_f1")
    texts = _legend_texts(ax)
    assert any(LEAK_TAG in t for t in texts) and any(ORACLE_TAG in t for t in texts)
    assert len(texts) == 4
    png, pdf = F.save_figure(fig, tmp_path / "fig1")
    assert _png_ok(png) and pdf.read_bytes()[:4] == b"%PDF"
    # Drawing on a given Axes returns that Axes.
    fig2, axes = F.new_figure(nrows=1, ncols=2)
    out_fig, out_ax = F.plot_metric_vs_ratio(rows, "map", ax=axes[1])
    assert out_ax is axes[1] and out_fig is fig2
    fig3, grid = F.plot_metrics_vs_ratio(rows, threshold="tuned")
    assert len(grid.ravel()) == 6
    texts = F.legend_texts(fig3)  # one shared legend for the six panels
    assert len(texts) == 4 and sum(LEAK_TAG in t for t in texts) == 1
    with pytest.raises(MLMLError, match="'metric'"):
        F.plot_metric_vs_ratio(rows, "accuracy")


@needs_matplotlib
def test_per_class_and_diagnostic_figures(records, tmp_path):
    at_half = [r for r in records if r["ratio"] == 0.5]
    fig, ax = F.plot_true_positives(at_half, ratio=0.5)
    assert len(ax.get_xticklabels()) == 15
    # The first tick is the class with the most test positives.
    support = np.mean([r["per_class"]["support"] for r in at_half], axis=0)
    assert ax.get_xticklabels()[0].get_text() == CLASSES[int(np.argmax(support))]
    assert _png_ok(F.save_figure(fig, tmp_path / "tp")[0])
    fig, axes = D.plot_weight_diagnostics(records, ratio=0.5)
    assert len(axes) == 3  # cb-wce observed, cb-wce LEAK, the ROC panel
    assert LEAK_TAG in axes[1].get_title()
    assert any(LEAK_TAG in t and "AUC" in t for t in F.legend_texts(fig))
    assert _png_ok(F.save_figure(fig, tmp_path / "weights")[0])
    fig, ax = D.plot_ap_vs_frequency(records, ratio=0.5)
    assert ax.get_xscale() == "log" and len(_legend_texts(ax)) == 4
    assert _png_ok(F.save_figure(fig, tmp_path / "ap")[0])
    with pytest.raises(MLMLError, match="ratios present"):
        F.plot_true_positives(records, ratio=0.3)
    with pytest.raises(MLMLError, match="diagnostics"):
        D.plot_detection_roc([r for r in records if r["method"] == "bce"])


# The report and every figure are drawn once in a fresh interpreter: in this one, whether pyplot is imported
# depends on what other tests (and plugins) imported first, so a check here could pass without testing anything.
FRESH_REPORT = """
import json, sys
from pathlib import Path
from mlml.reports import summarize, write_report
from mlml.reports import decision_figures as P
from mlml.reports import diagnostic_figures as D
from mlml.reports import figures as F
folder = Path(sys.argv[1])
given = json.loads((folder / "input.json").read_text())
records = given["records"]
assert "matplotlib" not in sys.modules, "matplotlib was imported before any figure was drawn"
rows = summarize(records)
F.plot_metric_vs_ratio(rows, "micro_f1")
F.plot_metrics_vs_ratio(rows)
F.plot_true_positives([r for r in records if r["ratio"] == 0.5], ratio=0.5)
D.plot_weight_diagnostics(records, ratio=0.5)
D.plot_ap_vs_frequency(records, ratio=0.5)
P.plot_pr_tradeoff(records, ratio=0.5)
P.plot_cardinality(records)
html = write_report(records, folder / "run", expected=given["expected"])
modules = {"matplotlib": "matplotlib" in sys.modules, "pyplot": "matplotlib.pyplot" in sys.modules}
print(json.dumps({"html": str(html), "modules": modules}))
"""


@pytest.fixture(scope="module")
def fresh_report(records, tmp_path_factory):
    """``write_report`` with figures (and every figure function) run once in a fresh interpreter; the run folder
    and what that interpreter had imported at the end."""
    folder = tmp_path_factory.mktemp("fresh-report")
    expected = [r["trial_id"] for r in records] + ["yeast-cb-wce-observed-r0.25-f1-s0"]
    expected.append({"dataset": "yeast", "method": "bce", "ratio": 0.9, "fold": 1, "seed": 0})
    given = {"records": records, "expected": expected}
    to_json = lambda o: o.tolist() if hasattr(o, "tolist") else float(o)  # noqa: E731 (numpy scalars, arrays)
    (folder / "input.json").write_text(json.dumps(given, default=to_json), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(Path(mlml.__file__).parents[1]), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", FRESH_REPORT, str(folder)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=path), timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    return folder / "run", Path(out["html"]), out["modules"]


@needs_matplotlib
def test_figures_and_report_never_import_pyplot(fresh_report):
    """Every figure and the report are drawn outside pyplot (no global figure state, no GUI backend)."""
    run_dir, _, modules = fresh_report
    assert modules == {"matplotlib": True, "pyplot": False}
    assert len(list((run_dir / "figures").glob("*.png"))) >= 5  # matplotlib really drew the report's figures


def test_without_matplotlib_figures_say_what_to_install(records, tmp_path, monkeypatch):
    """matplotlib is optional: the report says figures were skipped and why; asking for figures is an error."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with pytest.raises(MLMLError, match=r"Figures need matplotlib: pip install 'mlml\[plot\]'"):
        F.new_figure()
    write_report(records, tmp_path)
    assert "Figures skipped: matplotlib is not installed" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "figures").exists()
    with pytest.raises(MLMLError, match=r"write_report\(figures=True\) needs matplotlib"):
        write_report(records, tmp_path / "other", figures=True)


# ------------------------------------------------------------------------------------------------- report
@needs_matplotlib
def test_write_report_complete_files_and_incomplete_state(fresh_report):
    run_dir, html_path, _ = fresh_report  # write_report(records, run_dir, expected=...) with figures
    assert html_path == run_dir / "report.html"
    md = (run_dir / "report.md").read_text()
    html = html_path.read_text()
    for text in (md, html):
        assert "INCOMPLETE" in text
        assert "2 failed" in text and "2 missing of" in text
        assert "yeast-bce-observed-r0.0-f4-s0" in text and "RuntimeError: out of memory" in text
        assert "yeast-cb-wce-observed-r0.25-f1-s0" in text
        assert "ratio=0.9" in text
        assert LEAK_TAG in text and ORACLE_TAG in text
    assert html.count("data:image/png;base64,") >= 5
    pngs = sorted((run_dir / "figures").glob("*.png"))
    assert {p.stem for p in pngs} >= {
        "yeast_metrics_vs_ratio",
        "yeast_metrics_vs_ratio_tuned",
        "yeast_true_positives_r0.5",
        "yeast_weights_r0.5",
        "yeast_ap_vs_frequency_r0.5",
    }
    assert all(_png_ok(p) and p.with_suffix(".pdf").is_file() for p in pngs)
    for png in pngs:
        assert f"(figures/{png.name})" in md  # relative links
    with (run_dir / "results.csv").open() as handle:
        assert next(csv.reader(handle))[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)


def test_write_report_expected_mappings_and_fixed_thresholds(records, tmp_path):
    done = [r for r in records if r["status"] == "done"]
    # As the runner lists its grid: every trial's fields, some not stored in the records, and its id.
    expected = [
        {
            "dataset": r["dataset"],
            "method": r["method"],
            "ratio": r["ratio"],
            "fold": r["fold"],
            "seed": r["seed"],
            "weights_source": r["weights_source"],
            "scheme": "per-sample",
            "trial_id": r["trial_id"],
        }
        for r in done
    ]
    expected.append(dict(expected[0], fold=9, trial_id="never-ran"))
    write_report(done, tmp_path, expected=expected, thresholds="fixed", figures=False)
    md = (tmp_path / "report.md").read_text()
    assert "1 missing of" in md and "fold=9" in md and "never-ran" in md
    assert "tuned" not in md.split("## Run status")[1]  # the headline alone shows each method's own policy
    with (tmp_path / "results.csv").open() as handle:
        assert {row["threshold"] for row in csv.DictReader(handle)} == {"fixed"}


def test_write_report_complete_run_and_no_figures(records, tmp_path):
    done = [r for r in records if r["status"] == "done"]
    write_report(done, tmp_path, expected=[r["trial_id"] for r in done], figures=False)
    md = (tmp_path / "report.md").read_text()
    assert "Run COMPLETE" in md and "INCOMPLETE" not in md and "Failed trials" not in md
    assert not (tmp_path / "figures").exists()
    write_report(done, tmp_path / "other", figures=False)
    assert "missing trials cannot be listed" in (tmp_path / "other" / "report.md").read_text()


@pytest.mark.slow
@needs_matplotlib
def test_write_report_figure_ratio_fallback_and_skips(records, tmp_path):
    subset = [
        dict(r, diagnostics=None)
        for r in records
        if r["ratio"] == 0.75 and r["status"] == "done" and r["method"] != "im-wce" and r["fold"] < 3
    ]
    write_report(subset, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "per-class figures use ratio 0.75" in md
    assert "Figure 'weights_r0.75' skipped" in md
    assert (tmp_path / "figures" / "yeast_true_positives_r0.75.png").is_file()


def test_write_report_several_datasets(records, tmp_path):
    other = [dict(r, dataset="mulan:/data/scene", trial_id="scene-" + r["trial_id"]) for r in records[:24]]
    write_report(records + other, tmp_path, figures=False)
    md = (tmp_path / "report.md").read_text()
    assert md.index("Data set: mulan:/data/scene") < md.index("Data set: yeast")
    with (tmp_path / "results.csv").open() as handle:
        assert {row["dataset"] for row in csv.DictReader(handle)} == {"yeast", "mulan:/data/scene"}
    assert _slugs(["mulan:/data/scene", "yeast", "mulan:/data/scene/"]) == {
        "mulan:/data/scene": "mulan-data-scene",
        "yeast": "yeast",
        "mulan:/data/scene/": "mulan-data-scene-2",
    }


@needs_matplotlib
def test_save_figure_keeps_dots_in_names(tmp_path):
    fig, ax = F.new_figure()
    ax.plot([0, 1], [0, 1])
    written = F.save_figure(fig, tmp_path / "weights_r0.5")
    assert [p.name for p in written] == ["weights_r0.5.png", "weights_r0.5.pdf"]
    assert [p.name for p in F.save_figure(fig, tmp_path / "a.png", formats=("png",))] == ["a.png"]


def test_summarize_shows_each_method_with_its_own_policy_beside_fixed(records):
    rows = summarize(records, thresholds="own")
    cb = [r for r in rows if r["method"] == "cb-wce" and r["ratio"] == 0.5 and r["weights_source"] == "observed"]
    assert sorted((r["threshold"], r["own_policy"]) for r in cb) == [("fixed", False), ("tuned", True)]
    bce = [r for r in rows if r["method"] == "bce" and r["ratio"] == 0.5]
    assert [r["threshold"] for r in bce] == ["fixed"]  # its own policy is fixed: one row
    assert "tuned (own)" in terminal_table(cb)
    every = summarize(records, thresholds="all")
    assert {r["threshold"] for r in every} == {"fixed", "tuned"}


def test_a_collapsed_fold_is_flagged(records):
    group = [dict(r) for r in records if r["method"] == "bce" and r["ratio"] == 0.5 and r["status"] == "done"]
    assert summarize(group, thresholds="fixed")[0]["n_collapsed"] == 0
    group[0]["metrics"] = {**group[0]["metrics"], "micro_f1": 0.01}
    row = summarize(group, thresholds="fixed")[0]
    assert row["n_collapsed"] == 1 and "1 collapsed" in terminal_table([row])


# ------------------------------------------------------------------------------------------------ headline
def test_headline_names_the_best_method_and_its_paired_margins(records):
    """The best method at its own policy (cb-wce: tuned) by mean micro-F1; margins against a literal paired
    t computation (scipy.stats.ttest_rel and the t interval), oracle and LEAK rows left out."""
    from scipy import stats

    from mlml.reports.headline import headline_table, headlines
    from mlml.reports.tables import policy_metrics

    items = headlines(records)
    assert [(h.dataset, h.ratio) for h in items] == [("yeast", 0.0), ("yeast", 0.5), ("yeast", 0.75)]
    for h in items:
        runnable = [r for r in records if r["status"] == "done" and r["ratio"] == h.ratio and not r["oracle"]
                    and r["weights_source"] == "observed"]
        per_method = {}
        for r in runnable:
            policy = r["own_policy"]
            per_method.setdefault(r["method"], {})[r["fold"]] = policy_metrics(r)[policy]["micro_f1"]
        assert set(per_method) == {"bce", "cb-wce"} and h.n_methods == 2
        best = max(per_method, key=lambda m: np.mean(list(per_method[m].values())))
        assert h.method == best and h.policy == ("tuned" if best == "cb-wce" else "fixed")
        assert h.mean == pytest.approx(np.mean(list(per_method[best].values())))
        other = "bce" if best == "cb-wce" else "cb-wce"
        folds = sorted(per_method[best])
        d = np.array([per_method[best][f] - per_method[other][f] for f in folds])
        margin = h.over_best_other
        assert margin.other == other and margin.n == 3
        assert margin.mean == pytest.approx(d.mean())
        paired = stats.ttest_rel([per_method[best][f] for f in folds], [per_method[other][f] for f in folds])
        assert margin.p_value == pytest.approx(paired.pvalue, nan_ok=True)
        half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
        assert (margin.low, margin.high) == pytest.approx((d.mean() - half, d.mean() + half))
        assert (h.over_bce is None) == (best == "bce")
    header, body = headline_table(items)
    assert header[:3] == ["dataset", "ratio", "best method (own policy)"] and len(body) == 3


def test_report_leads_with_the_headline(records, tmp_path):
    write_report(records, tmp_path / "run", figures=False)
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings[0].startswith("# ") and headings[1] == "## Headline"
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    body = html[html.index("<body>"):]
    assert body.index('<section id="headline"') < body.index("<h2>Run status</h2>")


@needs_matplotlib
def test_figures_keep_their_promises(records):
    """No legend entry without its artist in the plot, no title cut off at the figure's edge, no error bar
    beyond [0, 1] for a precision."""
    from mlml.reports import decision_figures as P

    rows = summarize(records, thresholds="all")
    at = [r for r in records if r["ratio"] == 0.5]
    figures = {
        "metrics": F.plot_metrics_vs_ratio(rows)[0],
        "tp": F.plot_true_positives(at, ratio=0.5)[0],
        "pr": P.plot_pr_tradeoff(records, ratio=0.5)[0],
        "cardinality": P.plot_cardinality(records)[0],
        "weights": D.plot_weight_diagnostics(records, ratio=0.5)[0],
        "ap": D.plot_ap_vs_frequency(records, ratio=0.5)[0],
    }
    for name, fig in figures.items():
        assert F.missing_legend_entries(fig) == [], name
        assert F.clipped_texts(fig) == [], name
    assert {"threshold 0.5", "own policy"} <= set(F.legend_texts(figures["pr"]))
    # without any own policy beside 0.5, the key promises no stars and the cardinality no solid lines
    plain = [dict(r, own_policy="fixed") for r in records]
    pr = P.plot_pr_tradeoff(plain, ratio=0.5)[0]
    assert "own policy" not in F.legend_texts(pr) and F.missing_legend_entries(pr) == []
    assert all("(tuned)" not in t for t in F.legend_texts(P.plot_cardinality(plain)[0]))
    # a legend entry whose line holds no data is caught
    fig, ax = F.new_figure()
    ax.plot([0, 1], [0, 1], label="drawn")
    ax.plot([0, 1], [np.nan, np.nan], label="never drawn")
    ax.legend()
    assert F.missing_legend_entries(fig) == ["never drawn"]
    # precision error bars stay in [0, 1]: a mean of 0.97 ± 0.1 reaches 1.0, not 1.07
    high = [dict(r, micro_precision_mean=0.97, micro_precision_std=0.1) for r in rows]
    fig, ax = F.plot_metric_vs_ratio(high, "micro_precision")
    tops = [segment[:, 1].max() for container in ax.containers for collection in container.lines[2]
            for segment in collection.get_segments()]
    assert tops and max(tops) == pytest.approx(1.0)


def test_report_says_ratio_zero_metrics_are_lower_bounds(tmp_path) -> None:
    rng = np.random.default_rng(0)
    records = [_record("yeast", "bce", "observed", False, ratio, fold, 0, rng, tuned=False)
               for ratio in (0.0, 0.5) for fold in (1, 2)]
    write_report(records, tmp_path / "with", figures=False)
    assert "Incomplete test labels" in (tmp_path / "with" / "report.md").read_text()
    write_report([r for r in records if r["ratio"] > 0], tmp_path / "without", figures=False)
    assert "Incomplete test labels" not in (tmp_path / "without" / "report.md").read_text()
