"""The third reliability round (issue 24, items 7 to 20): each reproducer of the issue, run in a scratch folder.

Every case of bad input ends in one line and exit 2, with nothing of the input or of an earlier run lost, and no
case is put down to a bug in mlml ("this may be a bug").
"""

from __future__ import annotations

import errno
import json
import sqlite3
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from mlml.cli import error_message, main
from mlml.exceptions import DataError, MLMLError

BUG = "may be a bug"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def assert_one_line_error(code, err, *patterns):
    assert code == 2, err
    lines = [line for line in err.splitlines() if "Warning" not in line and not line.startswith("  ")]
    assert len(lines) == 1, err
    assert BUG not in err, err
    for pattern in patterns:
        assert pattern in lines[0], lines[0]


def snapshot(folder):
    """Every file under ``folder`` with its bytes (what a failed command must leave as it was)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small(tmp_path):
    """60 samples, 3 classes, 4 features: labels.csv and X.npy (rows in label order)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    Y = (X[:, :3] + 0.3 * rng.normal(size=(60, 3)) > 0).astype(int)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,a,b,c\n" + "".join(f"s{i},{','.join(map(str, row))}\n" for i, row in enumerate(Y)))
    features = tmp_path / "X.npy"
    np.save(features, X)
    return labels, features, Y


XC_GOOD = """6 4 5
0,3 0:1.5 2:2
1 1:0.25 3:-1
2 0:1
1,4,0 2:3e-1
3 1:1 3:1
0,2 0:2 1:1
"""


# -- item 7: the XC writer keeps verified negatives and unannotated entries -------------------------------------
def test_xc_partial_labels_round_trip_through_companion_files(tmp_path):
    from mlml.data.xc import companion_path, read_xc_file, write_xc

    rng = np.random.default_rng(1)
    dense = rng.choice(np.array([1, 0, 2, -1], dtype=np.int8), size=(30, 7), p=[0.2, 0.3, 0.2, 0.3])
    path = tmp_path / "observed.txt"
    write_xc(path, sp.csr_matrix(dense))
    assert companion_path(path, 2).is_file() and companion_path(path, -1).is_file()
    np.testing.assert_array_equal(read_xc_file(path).labels.toarray(), dense)
    # the main file stays a plain XC file: the positives alone
    np.testing.assert_array_equal(read_xc_file(path, companions=False).labels.toarray(), (dense == 1).astype(np.int8))
    # rewriting plain labels removes the companions, so that the files describe the new matrix only
    plain = (dense == 1).astype(np.int8)
    write_xc(path, plain)
    assert not companion_path(path, 2).exists() and not companion_path(path, -1).exists()
    np.testing.assert_array_equal(read_xc_file(path).labels.toarray(), plain)


def test_xc_companion_that_contradicts_its_file_is_named(tmp_path):
    from mlml.data.xc import companion_path, read_xc_file

    path = tmp_path / "o.txt"
    path.write_text("2 0 3\n0,1\n2\n")
    companion_path(path, -1).write_text("2 0 3\n1\n\n")  # label 1 of sample 0 is a positive already
    with pytest.raises(DataError, match=r"o\.unannotated\.txt:2: label 1 .* already listed as a positive"):
        read_xc_file(path)
    companion_path(path, -1).write_text("3 0 3\n\n\n\n")
    with pytest.raises(DataError, match=r"o\.unannotated\.txt:1: .*must match"):
        read_xc_file(path)


def test_train_on_xc_partial_keeps_every_state_of_the_labels_it_trained_on(tmp_path, capsys, monkeypatch):
    from mlml.data import load

    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.txt").write_text(XC_GOOD)
    code, err, _ = run(["train", "xc:good.txt", "--method", "csl", "--scheme", "partial", "--ratio", "0.5",
                        "--epochs", "2", "--out", "m"], capsys)
    assert code == 0, err
    truth = load("xc:good.txt").labels.toarray()
    observed = load("xc:m/observed.txt").labels.toarray()
    hidden = load("xc:m/hidden.txt").labels.toarray()
    assert (observed == 2).any() and (observed == -1).any()
    assert np.all(truth[observed == 1] == 1)  # kept positives
    assert np.all(truth[observed == 2] == 0)  # verified negatives are true negatives
    assert np.all(observed[hidden == 1] == -1)  # every unannotated positive is -1, not a 0
    assert not (observed == 0).any()  # the partial scheme leaves no unverified zero


# -- item 8: empty and duplicate class names ---------------------------------------------------------------------
@pytest.mark.parametrize("header, pattern", [("id,a,,c", "has no name"), ("id,a,a,c", "named twice")])
def test_class_names_must_be_distinct_and_non_empty(tmp_path, capsys, small, header, pattern):
    _, features, _ = small
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n" + "".join(f"s{i},{i % 2},1,0\n" for i in range(60)))
    code, err, _ = run(["data", "info", f"csv:{bad},{features}"], capsys)
    assert_one_line_error(code, err, "bad.csv:1:", pattern)
    for argv in (["simulate", "--labels", bad, "--ratio", "0.5", "--out", tmp_path / "o.csv"],
                 ["weights", "--labels", bad, "--out", tmp_path / "w.csv"]):
        code, err, _ = run(argv, capsys)
        assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "w.csv").exists()


def test_coco_category_without_a_name_is_refused(tmp_path, capsys):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [],
                               "categories": [{"id": 1, "name": ""}]}))
    code, err, _ = run(["data", "info", f"coco:{ann}"], capsys)
    assert_one_line_error(code, err, "categories[0]", "empty 'name'")


def test_labels_writer_refuses_names_it_could_not_read_back(tmp_path):
    from mlml.labels import write_matrix_csv

    for names, pattern in ((["a", ""], "empty name"), (["a", "a"], "occurs twice")):
        with pytest.raises(MLMLError, match=pattern):
            write_matrix_csv(tmp_path / "o.csv", ["s0"], names, np.zeros((1, 2), dtype=np.int8))
        assert not (tmp_path / "o.csv").exists()


# -- item 9: a partial scheme that keeps no label ----------------------------------------------------------------
def test_simulate_partial_with_ratio_zero_is_refused(tmp_path, capsys, small):
    labels, _, _ = small
    code, err, _ = run(["simulate", "--labels", labels, "--scheme", "partial", "--ratio", "0",
                        "--out", tmp_path / "p.csv"], capsys)
    assert_one_line_error(code, err, "--scheme partial", "--ratio")
    assert not (tmp_path / "p.csv").exists()


def test_train_with_no_known_label_is_refused(tmp_path, capsys, small):
    labels, features, _ = small
    out = tmp_path / "m"
    code, err, _ = run(["train", f"csv:{labels},{features}", "--scheme", "partial", "--ratio", "1e-9",
                        "--epochs", "2", "--out", out], capsys)
    assert_one_line_error(code, err, "no known entry")
    assert not (out / "model.pt").exists()


# -- item 10: thresholds outside [0, 1] -------------------------------------------------------------------------
@pytest.fixture
def trained(tmp_path, small, capsys):
    labels, features, _ = small
    out = tmp_path / "model"
    code, err, _ = run(["train", f"csv:{labels},{features}", "--epochs", "2", "--out", out], capsys)
    assert code == 0, err
    return out, f"csv:{labels},{features}"


def test_thresholds_outside_zero_one_are_refused(tmp_path, capsys, trained):
    model, source = trained
    code, err, _ = run(["evaluate", model, source, "--threshold", "1.5"], capsys)
    assert_one_line_error(code, err, "--threshold", "[0, 1]")
    meta_path = model / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["thresholds"] = [5.0] * meta["n_labels"]
    meta_path.write_text(json.dumps(meta))
    code, err, _ = run(["evaluate", model, source], capsys)
    assert_one_line_error(code, err, "model.json", "'thresholds'[0] is 5.0")


# -- item 11: flags that were silently ignored ---------------------------------------------------------------------
def test_train_refuses_flags_it_would_ignore(tmp_path, capsys, small, monkeypatch):
    labels, features, _ = small
    source = f"csv:{labels},{features}"
    out = tmp_path / "m"
    code, err, _ = run(["train", source, "--scheme", "single-positive", "--ratio", "0.3", "--out", out], capsys)
    assert_one_line_error(code, err, "single-positive", "--ratio")
    code, err, _ = run(["train", source, "--weights", tmp_path / "nonexist.pt", "--out", out], capsys)
    assert_one_line_error(code, err, "--weights", "no such file")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not used")
    code, err, _ = run(["train", source, "--weights", weights, "--epochs", "1", "--out", out], capsys)
    assert_one_line_error(code, err, "--weights", "features only")
    assert not out.exists()


def test_a_recipe_whose_settings_flags_replace_is_labelled_so(tmp_path, capsys, small):
    labels, features, _ = small
    code, err, out = run(["train", f"csv:{labels},{features}", "--recipe", "seed", "--optimizer", "adamw",
                          "--lr", "0.5", "--head", "linear", "--epochs", "1", "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    assert "seed recipe with --head linear --optimizer adamw --lr 0.5 --epochs 1" in out, out


# -- item 12: the labels as their own features -----------------------------------------------------------------
def test_labels_file_as_features_is_refused(tmp_path, capsys, small):
    labels, _, Y = small
    code, err, _ = run(["data", "info", f"csv:{labels},{labels}"], capsys)
    assert_one_line_error(code, err, "features file is the labels file")
    copy = tmp_path / "features.csv"
    copy.write_text(labels.read_text())
    code, err, _ = run(["data", "info", f"csv:{labels},{copy}"], capsys)
    assert_one_line_error(code, err, "features are the labels")


# -- item 13: the scikit-learn front end ----------------------------------------------------------------------
def test_sklearn_refuses_labels_with_nothing_known_and_scores_that_are_not_numbers():
    from mlml.sklearn import MissingLabelClassifier, masked_map_score

    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(MLMLError, match="no known entry"):
        MissingLabelClassifier(epochs=1).fit(X, -np.ones((30, 2), dtype=int))
    Y = np.tile([[1, 0], [0, 1]], (5, 1))
    with pytest.raises(MLMLError, match="NaN or infinite"):
        masked_map_score(Y, np.full(Y.shape, np.nan))


# -- item 14: one bad grid-wide parameter fails once, before the first trial ---------------------------------------
@pytest.fixture
def finished_grid(tmp_path, small, capsys):
    labels, features, _ = small
    source = f"csv:{labels},{features}"
    run_dir = tmp_path / "RUN"
    code, err, _ = run(["reproduce", source, "--methods", "bce", "--ratios", "0", "--folds", "2", "--epochs", "1",
                        "--out", run_dir, "--no-progress"], capsys)
    assert code == 0, err
    return source, run_dir


def _openimages_labels_only(tmp_path):
    path = tmp_path / "human-labels.csv"
    path.write_text("ImageID,Source,LabelName,Confidence\n" + "".join(
        f"img{i},verification,/m/{c},{(i + c) % 2}\n" for i in range(20) for c in range(3)))
    return f"openimages:{path}"


@pytest.mark.parametrize("case", ["method-param", "labels-only", "device"])
def test_bad_grid_parameters_fail_once_and_keep_the_finished_run(tmp_path, capsys, finished_grid, case):
    source, run_dir = finished_grid
    before = snapshot(run_dir)
    base = ["reproduce", "--ratios", "0", "--folds", "2", "--epochs", "1", "--out", run_dir, "--no-progress"]
    if case == "method-param":
        argv = [*base, source, "--methods", "epr", "--method-param", "epr:expected_positives=-3"]
        patterns = ("'epr'", "expected_positives")
    elif case == "labels-only":
        argv = [*base, _openimages_labels_only(tmp_path), "--methods", "bce"]
        patterns = ("labels only",)
    else:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"train": {"device": "cuda:7"}}))
        argv = [*base, source, "--methods", "bce", "--config", config]
        patterns = ("device", "cuda:7")
    code, err, out = run(argv, capsys)
    assert_one_line_error(code, err, *patterns)
    assert "failed" not in out
    assert snapshot(run_dir) == before


# -- item 15: ARFF names with escaped quotes ----------------------------------------------------------------------
def test_arff_double_quoted_label_name_with_escaped_quotes_is_found(tmp_path):
    from mlml.data import load

    arff = tmp_path / "q.arff"
    arff.write_text('@relation q\n@attribute f1 numeric\n@attribute "Robin \\"red\\"" {0,1}\n'
                    "@attribute 'it\\'s' {0,1}\n@data\n0.5,1,0\n0.1,0,1\n0.3,1,1\n0.7,0,0\n")
    xml = tmp_path / "q.xml"
    xml.write_text('<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n'
                   '<label name="Robin &quot;red&quot;"></label>\n<label name="it\'s"></label>\n</labels>\n')
    dataset = load(f"mulan:{arff},{xml}")
    assert dataset.label_names == ['Robin "red"', "it's"]
    np.testing.assert_array_equal(dataset.labels, [[1, 0], [0, 1], [1, 1], [0, 0]])


# -- item 16: plain bad input is not "a bug" --------------------------------------------------------------------
@pytest.mark.parametrize("extra, pattern", [
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--device", "bogus"], "--device"),
])
def test_train_bad_settings_are_user_errors(tmp_path, capsys, small, extra, pattern):
    labels, features, _ = small
    code, err, _ = run(["train", f"csv:{labels},{features}", "--epochs", "1", "--out", tmp_path / "m", *extra],
                       capsys)
    assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "m").exists()


def test_reproduce_bad_scheduler_is_a_user_error(tmp_path, capsys, finished_grid):
    source, run_dir = finished_grid
    before = snapshot(run_dir)
    code, err, _ = run(["reproduce", source, "--methods", "bce", "--ratios", "0", "--folds", "2", "--epochs", "1",
                        "--scheduler", "notaurl", "--out", run_dir, "--no-progress"], capsys)
    assert_one_line_error(code, err, "--scheduler", "notaurl")
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("values", [
    {"train": {"lr": [0.1, 0.2]}}, {"train": {"head": ["mlp"]}}, {"train": {"val_fraction": [0.1]}},
    {"train": {"fixed_epochs": [1]}}, {"train": {"augment": [1]}}, {"train": [1]}, {"datasets": [["yeast"]]},
    {"min_labels": [1]}, {"skip_bad": [1]}, {"policy_posterior": ["x"]}, {"positive_weights": ["x"]},
    {"backbone": ["x"]}, {"methods": [{"name": "x", "method": ["bce"]}]},
    {"methods": [{"name": "x", "method": "bce", "params": [1]}]}, {"method_params": [1]},
    {"train": {"head": "bogus"}}, {"train": {"head_kwargs": {"nope": 1}}},
])
def test_list_typed_config_values_are_user_errors(tmp_path, capsys, values):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(values))
    run_dir = tmp_path / "R"
    code, err, out = run(["reproduce", "--config", config, "--folds", "2", "--ratios", "0", "--epochs", "1",
                          "--out", run_dir, "--no-progress"], capsys)
    assert_one_line_error(code, err)
    assert not run_dir.exists()


def test_a_full_disk_while_saving_figures_says_so_and_keeps_the_run(tmp_path, capsys, finished_grid, monkeypatch):
    import matplotlib.figure

    _, run_dir = finished_grid
    store = (run_dir / "results.sqlite").read_bytes()

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    code, err, _ = run(["report", run_dir], capsys)
    assert_one_line_error(code, err, "no space left")
    assert (run_dir / "results.sqlite").read_bytes() == store


def test_a_full_disk_is_found_behind_the_error_a_library_raised_instead():
    def wrapped():
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "figures/x.pdf")
        except OSError:
            raise ValueError("I/O operation on closed file") from None

    try:
        wrapped()
    except ValueError as exc:
        message = error_message(exc)
    assert "no space left" in message and "figures/x.pdf" in message and BUG not in message


# -- item 17: output folders checked before any work --------------------------------------------------------------
@pytest.mark.parametrize("below", [False, True])
def test_checkpoint_dir_that_is_a_file_fails_before_the_data_is_read(tmp_path, capsys, small, monkeypatch, below):
    import mlml.data

    labels, features, _ = small
    afile = tmp_path / "afile"
    afile.write_text("mine")

    def no_load(*args, **kwargs):
        raise AssertionError("the data were read before the output folders were checked")

    monkeypatch.setattr(mlml.data, "load", no_load)
    target = afile / "sub" if below else afile
    code, err, _ = run(["train", f"csv:{labels},{features}", "--checkpoint-dir", target, "--out", tmp_path / "m"],
                       capsys)
    assert_one_line_error(code, err, "--checkpoint-dir", "is a file")
    assert afile.read_text() == "mine"


# -- item 18: a full disk under the results store ----------------------------------------------------------------
def test_the_stores_disk_errors_say_what_happened(tmp_path, monkeypatch):
    import mlml.experiments.store as store_module
    from mlml.experiments.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")

    class Failing:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("disk I/O error")
            return self.conn.execute(sql, *args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.conn.__exit__(*exc)

        def close(self):
            self.conn.close()

    real_connect = sqlite3.connect
    monkeypatch.setattr(store_module.sqlite3, "connect", lambda *a, **k: Failing(real_connect(*a, **k)))
    record = {"trial_id": "t", "dataset": "d", "method": "m", "ratio": 0, "fold": 0, "seed": 0, "status": "done",
              "config_hash": "h"}
    usage = store_module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda p: usage._replace(free=4096))
    with pytest.raises(DataError, match="no space left on the device"):
        store.put(record)
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda p: usage._replace(free=1 << 40))
    with pytest.raises(DataError, match="the disk failed"):
        store.put(record)


# -- item 19: compact messages ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, line", [("ratios: [0.1\nfolds: 2\n", 2), ("a: 1\n  b: 2\n", 2), ("a: *x\n", 1)])
def test_yaml_errors_are_one_line_with_file_and_line(tmp_path, capsys, text, line):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    code, err, _ = run(["reproduce", "--config", config, "--out", tmp_path / "R"], capsys)
    assert_one_line_error(code, err, f"bad.yaml:{line}: invalid YAML")


def test_deeply_nested_json_names_its_file(tmp_path, capsys):
    ann = tmp_path / "deep.json"
    ann.write_text('{"images":' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err, _ = run(["data", "info", f"coco:{ann}"], capsys)
    assert_one_line_error(code, err, "deep.json", "nested too deeply")


@pytest.mark.parametrize("body, where", [("0_1 0:1\n2 1:1\n", ":2:"), ("1 0:1\n2 1:nan\n", ":3:")])
def test_xc_errors_name_the_line_and_print_plain_values(tmp_path, capsys, body, where):
    path = tmp_path / "x.txt"
    path.write_text("2 3 4\n" + body)
    code, err, _ = run(["data", "info", f"xc:{path}"], capsys)
    assert_one_line_error(code, err, where)
    assert "np." not in err


@pytest.mark.parametrize("extra, pattern", [
    (["--scheme", "single-positive", "--ratio", "0.3"], "--ratio"),
    (["--scheme", "per-sample"], "--ratio"),
    (["--scheme", "partial", "--ratio", "0.5", "--keep-at-least-one"], "--keep-at-least-one"),
])
def test_simulate_errors_name_flags_not_api_parameters(tmp_path, capsys, small, extra, pattern):
    labels, _, _ = small
    code, err, _ = run(["simulate", "--labels", labels, "--out", tmp_path / "o.csv", *extra], capsys)
    assert_one_line_error(code, err, pattern)
    assert "hide_positives" not in err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("argv, pattern", [
    (["reproduce", "--folds", "1"], "--folds must be"),
    (["train", "SOURCE", "--finetune-last-k", "-1"], "--finetune-last-k must be"),
])
def test_errors_about_settings_a_flag_gave_name_the_flag(tmp_path, capsys, small, argv, pattern):
    labels, features, _ = small
    argv = [a.replace("SOURCE", f"csv:{labels},{features}") for a in argv]
    code, err, _ = run([*argv, "--out", tmp_path / "o"], capsys)
    assert_one_line_error(code, err, pattern)
    assert "TrainConfig" not in err and "grid config" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("params, pattern", [({"method_params": [1]}, "'method_params'"), ({"seed": -1}, "'seed'")])
def test_missing_label_classifier_checks_its_parameters(params, pattern):
    from mlml.sklearn import MissingLabelClassifier

    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.tile([[1, 0], [0, 1]], (10, 1))
    with pytest.raises(MLMLError, match=pattern):
        MissingLabelClassifier(epochs=1, **params).fit(X, y)


def test_many_folds_warn_once_for_the_grid_not_once_a_trial(tmp_path, capsys, small):
    labels, features, _ = small
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, err, _ = run([
            "reproduce", f"csv:{labels},{features}", "--methods", "bce", "--ratios", "0", "--folds", "15",
            "--epochs", "1", "--out", tmp_path / "R", "--no-progress"], capsys)
    assert code == 0, err
    undefined = [line for line in err.splitlines() if "no scored positive or no scored negative" in line]
    assert len(undefined) == 1, err  # the CLI prints each warning as one line
    assert "trial(s)" in undefined[0]


# -- item 20: an XC header does not set the memory ---------------------------------------------------------------
def test_an_implausible_xc_header_is_one_line_and_costs_nothing(tmp_path, capsys):
    import tracemalloc

    big = tmp_path / "big.txt"
    big.write_text("6 4 300000000\n" + XC_GOOD.split("\n", 1)[1])
    tracemalloc.start()
    started = time.perf_counter()
    code, err, _ = run(["data", "info", f"xc:{big}"], capsys)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_one_line_error(code, err, "big.txt:1:", "300,000,000 labels")
    assert peak < 50 * 2**20 and time.perf_counter() - started < 30


def test_an_xc_header_may_declare_labels_no_sample_of_the_file_holds(tmp_path):
    from mlml.data import load

    path = tmp_path / "train.txt"
    path.write_text("6 4 40\n" + XC_GOOD.split("\n", 1)[1])  # labels 5..39 only in a test file, say
    assert load(f"xc:{path}").labels.shape == (6, 40)
