"""No command destroys data; every user error is one line and exit 2 (issue 11, part 4)."""

import errno
import json

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from cli_helpers import assert_one_line_error, run

from mlml.cli import main
from mlml.exceptions import MLMLError


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--out", "{labels}"], "--out"),
        (["--out", "o.csv", "--hidden-out", "{labels}"], "--hidden-out"),
        (["--out", "o.csv", "--hidden-out", "o.csv"], "--hidden-out"),
    ],
)
def test_simulate_refuses_to_overwrite_its_input(tmp_path, labels_csv, capsys, monkeypatch, extra, pattern):
    monkeypatch.chdir(tmp_path)
    before = labels_csv.read_bytes()
    argv = ["simulate", "--labels", labels_csv, "--ratio", "0.5"] + [a.format(labels=labels_csv) for a in extra]
    code, err = run(argv, capsys)
    assert_one_line_error(code, err, pattern)
    assert "refusing to overwrite" in err
    assert labels_csv.read_bytes() == before
    assert not (tmp_path / "o.csv").exists()


def test_weights_refuses_to_overwrite_its_input_and_checks_hidden_before_writing(tmp_path, labels_csv, capsys):
    before = labels_csv.read_bytes()
    code, err = run(["weights", "--labels", labels_csv, "--out", labels_csv], capsys)
    assert_one_line_error(code, err, "refusing to overwrite")
    assert labels_csv.read_bytes() == before
    hidden = tmp_path / "hidden.csv"
    hidden.write_text("id,a,b,c\nother,0,0,0\n")  # ids differ from the labels file's
    out = tmp_path / "w.csv"
    code, err = run(["weights", "--labels", labels_csv, "--hidden", hidden, "--out", out], capsys)
    assert_one_line_error(code, err, "ids or class columns differ")
    assert not out.exists()


def test_suggest_refuses_to_overwrite_the_labels_file(tmp_path, labels_csv, capsys):
    before = labels_csv.read_bytes()
    code, err = run(["suggest", f"csv:{labels_csv}", "--method", "labels", "--out", labels_csv], capsys)
    assert_one_line_error(code, err, "refusing to overwrite")
    assert labels_csv.read_bytes() == before


def test_train_refuses_an_out_folder_holding_its_labels(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    labels = folder / "observed.csv"  # the name mlml train writes into its --out folder
    labels.write_text("id,a,b\n" + "".join(f"s{i},{i % 2},1\n" for i in range(20)))
    features = folder / "x.npy"
    np.save(features, np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32))
    before = labels.read_bytes()
    code, err = run(["train", f"csv:{labels},{features}", "--method", "bce", "--epochs", "1", "--out", folder],
                    capsys)
    assert_one_line_error(code, err, "refusing to overwrite")
    assert labels.read_bytes() == before


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["train", "yeast", "--ratio", "-0.5", "--out", "m"], "--ratio"),
        (["train", "yeast", "--ratio", "nan", "--out", "m"], "--ratio"),
        (["train", "yeast", "--seed", "-1", "--out", "m"], "--seed"),
        (["simulate", "--labels", "x.csv", "--ratio", "0.5", "--seed", "-1", "--out", "o.csv"], "--seed"),
        (["train", "yeast", "--epochs", "0", "--out", "m"], "--epochs"),
        (["reproduce", "--ratios", ",", "--out", "run"], "--ratios"),
        (["reproduce", "--methods", ",", "--out", "run"], "--methods"),
        (["reproduce", "--ratios", "0.5,0.5", "--out", "run"], "listed twice"),
        (["reproduce", "--methods", "bce,bce", "--out", "run"], "listed twice"),
        (["reproduce", "--seed", "0,0", "--out", "run"], "listed twice"),
        (["reproduce", "--method-param", "expected_positives=3", "--out", "run"], "must name its method"),
        (["reproduce", "--methods", "epr", "--method-param", "epr:nope=3", "--out", "run"], "no parameter 'nope'"),
        (["train", "yeast", "--method", "epr", "--method-param", "nope=3", "--out", "m"], "no parameter 'nope'"),
        (["train", "yeast", "--recipe", "seed", "--thresholds", "tuned", "--out", "m"], "needs validation rows"),
    ],
)
def test_bad_parameters_fail_before_anything_is_written(tmp_path, capsys, monkeypatch, argv, pattern):
    monkeypatch.chdir(tmp_path)
    code, err = run(argv, capsys)
    assert_one_line_error(code, err, pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing may be written"


def test_more_folds_than_samples_fails_once_before_the_run_folder_is_written(tmp_path, capsys):
    labels = tmp_path / "tiny.csv"
    labels.write_text("id,a,b\ns0,1,0\ns1,0,1\ns2,1,1\n")
    features = tmp_path / "tiny.npy"
    np.save(features, np.eye(3, dtype=np.float32))
    run_dir = tmp_path / "run"
    code, err = run(["reproduce", f"csv:{labels},{features}", "--folds", "4", "--out", run_dir, "--no-progress"],
                    capsys)
    assert_one_line_error(code, err, "too few for 4 folds")
    assert not run_dir.exists()


def test_a_grid_whose_data_fails_to_load_leaves_the_run_folder_as_it_was(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("datasets: [yeast]\n")
    code, err = run(["reproduce", "csv:absent.csv", "--out", run_dir, "--no-progress"], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert (run_dir / "config.yaml").read_text() == "datasets: [yeast]\n"


def test_report_never_empties_a_results_table_the_store_can_fill(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _ = run(["reproduce", "--ratios", "0.5", "--methods", "bce", "--folds", "2", "--epochs", "1",
                   "--out", run_dir, "--no-progress"], capsys)
    assert code == 0
    table = (run_dir / "results.csv").read_text()
    assert len(table.splitlines()) == 2
    # a config describing a grid that never ran (e.g. written by a run killed before its first trial)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"datasets": ["yeast"], "ratios": [0.25], "folds": 2}))
    code, err = run(["report", run_dir], capsys)
    assert_one_line_error(code, err, "results.csv is left as it was")
    assert (run_dir / "results.csv").read_text() == table
    code, _ = run(["report", run_dir, "--all"], capsys)
    assert code == 0 and (run_dir / "results.csv").read_text() == table


def test_a_full_disk_keeps_the_previous_file_and_is_one_line(tmp_path, labels_csv, capsys, monkeypatch):
    out = tmp_path / "observed.csv"
    out.write_text("previous\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("mlml._io.os.fsync", full)
    code, err = run(["simulate", "--labels", labels_csv, "--ratio", "0.5", "--out", out], capsys)
    assert_one_line_error(code, err, "no space left")
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.mark.parametrize(
    "arrange, pattern",
    [
        (lambda d: (d / "model.pt").write_bytes(b"PK\x03\x04 not a zip"), "cannot load the model weights"),
        (lambda d: (d / "model.json").write_text(json.dumps({"format": 1, "n_labels": 14})), "lacks config"),
        (lambda d: (d / "model.json").write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ],
)
def test_a_damaged_model_folder_is_one_line(tmp_path, capsys, arrange, pattern):
    model = tmp_path / "model"
    assert main(["train", "yeast", "--method", "bce", "--epochs", "1", "--out", str(model)]) == 0
    capsys.readouterr()
    arrange(model)
    code, err = run(["evaluate", model, "yeast"], capsys)
    assert_one_line_error(code, err, pattern)


def test_a_file_where_a_folder_should_be_is_one_line(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    code, err = run(["train", "yeast", "--epochs", "1", "--out", path], capsys)
    assert_one_line_error(code, err, "is a file")
    code, err = run(["reproduce", "--out", path, "--no-progress"], capsys)
    assert_one_line_error(code, err, "is a file")
    code, err = run(["data", "info", f"mulan:{path}/x.arff,{path}/x.xml"], capsys)
    assert code == 2 and len(err.splitlines()) == 1


def test_a_label_matrix_too_large_for_memory_says_how_much_it_needs():
    from mlml.labels import to_dense

    huge = sp.csr_matrix((10**7, 10**7), dtype=np.int8)
    with pytest.raises(MLMLError, match=r"needs 90\.9 TiB of memory; this machine has"):
        to_dense(huge)


def test_unexpected_errors_are_one_line_with_a_hint(capsys, monkeypatch):
    def boom(args):
        raise KeyError("x")

    monkeypatch.setattr("mlml.cli.parser._methods", boom)
    parser_default = main(["methods"])
    err = capsys.readouterr().err.strip()
    assert parser_default == 2 and len(err.splitlines()) == 1 and "MLML_DEBUG=1" in err
