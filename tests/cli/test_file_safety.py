"""Nothing destroyed: what the atomic writer may replace, inputs kept in a run folder, a failed rerun's table,
outputs that appear together, figures written whole, and file modes that follow the umask (issue 24, items 1-6)."""

import os
import stat

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run

from mlml._io import atomic_group, atomic_open, write_text
from mlml.exceptions import MLMLError


def simulate(labels, out, capsys, *extra):
    return run(["simulate", "--labels", labels, "--ratio", "0.5", "--out", out, *extra], capsys)


# 1. an output path that is not a regular file or a new path is refused; a symlink is written through


def test_a_fifo_as_output_is_refused_and_stays_a_fifo(tmp_path, labels_csv, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, err = simulate(labels_csv, fifo, capsys)  # would block forever if it were opened
    assert_one_line_error(code, err, "is a FIFO, not a regular file")
    assert "--out" in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
def test_a_device_as_output_is_refused_and_stays_a_device(tmp_path, labels_csv, capsys):
    device = tmp_path / "fulldev"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 7))  # the reproducer's /dev/full
    code, err = simulate(labels_csv, device, capsys)
    assert_one_line_error(code, err, "is a character device")
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_folder_as_output_is_refused(tmp_path, labels_csv, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    code, err = simulate(labels_csv, folder, capsys)
    assert_one_line_error(code, err, "is a folder")
    assert folder.is_dir() and not any(folder.iterdir())


def test_a_symlink_to_a_regular_file_is_written_through(tmp_path, labels_csv, capsys):
    real = tmp_path / "data" / "observed.csv"
    real.parent.mkdir()
    real.write_text("previous\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _ = simulate(labels_csv, link, capsys)
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("id,a,b,c")


def test_a_symlink_to_a_fifo_is_refused(tmp_path, labels_csv, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.csv"
    link.symlink_to(fifo)
    code, err = simulate(labels_csv, link, capsys)
    assert_one_line_error(code, err, "is a FIFO")
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_the_writer_itself_refuses_what_is_not_a_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(MLMLError, match="is a FIFO"):
        write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# 2. reproduce never writes over its inputs kept in the run folder


def _features(folder, n=12):
    path = folder / "X.npy"
    np.save(path, np.random.default_rng(0).normal(size=(n, 3)))
    return path


def _reproduce_with_inputs_in(run_dir, labels_name, labels_csv, capsys):
    """``mlml reproduce --out run_dir`` of a labels file named ``labels_name`` (a copy of ``labels_csv``) and a
    features file, both kept in ``run_dir``: ``(code, err, labels)``."""
    run_dir.mkdir()
    labels = run_dir / labels_name
    labels.write_bytes(labels_csv.read_bytes())
    features = _features(run_dir)
    code, err = run(["reproduce", f"csv:{labels},{features}", "--methods", "bce", "--ratios", "0", "--folds", "2",
                     "--epochs", "2", "--out", run_dir, "--no-progress"], capsys)
    return code, err, labels


def test_reproduce_refuses_a_labels_file_that_is_a_run_file(tmp_path, labels_csv, capsys):
    run_dir = tmp_path / "d"
    code, err, labels = _reproduce_with_inputs_in(run_dir, "results.csv", labels_csv, capsys)
    assert_one_line_error(code, err, "its own results.csv")
    assert labels.read_bytes() == labels_csv.read_bytes()
    assert sorted(p.name for p in run_dir.iterdir()) == ["X.npy", "results.csv"]


def test_reproduce_refuses_its_own_config_file_as_config(tmp_path, capsys):
    run_dir = tmp_path / "d"
    run_dir.mkdir()
    config = run_dir / "config.yaml"
    text = "# my grid\ndatasets: [yeast]\nratios: [0]\nmethods: [bce]\nfolds: 2\ntrain: {epochs: 1}\n"
    config.write_text(text)
    code, err = run(["reproduce", "--config", config, "--out", run_dir, "--no-progress"], capsys)
    assert_one_line_error(code, err, "--config")
    assert config.read_text() == text


def test_reproduce_reads_other_inputs_kept_in_its_run_folder(tmp_path, labels_csv, capsys):
    run_dir = tmp_path / "d"
    code, _, labels = _reproduce_with_inputs_in(run_dir, "labels.csv", labels_csv, capsys)
    assert code == 0
    assert labels.read_bytes() == labels_csv.read_bytes() and (run_dir / "results.csv").is_file()


# 3. a rerun none of whose trials finishes keeps the earlier table and report


def test_a_failed_rerun_keeps_the_table(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    base = ["reproduce", "yeast", "--ratios", "0", "--folds", "2", "--epochs", "1", "--out", run_dir, "--no-progress"]
    assert run(base + ["--methods", "bce"], capsys)[0] == 0
    table = (run_dir / "results.csv").read_text()
    report = (run_dir / "report.html").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("this trial breaks")

    monkeypatch.setattr("mlml.experiments.trials.run_trial", broken)
    code, _ = run(base + ["--methods", "cb-wce"], capsys)
    assert code == 1  # the trial failed and says so
    assert (run_dir / "results.csv").read_text() == table
    assert (run_dir / "report.html").read_bytes() == report


def test_write_report_of_no_finished_trial_keeps_an_existing_table(tmp_path):
    from mlml.reports import NothingFinished, write_report

    (tmp_path / "results.csv").write_text("kept\n")
    failed = {"trial_id": "t", "dataset": "yeast", "method": "bce", "ratio": 0.0, "fold": 0, "seed": 0,
              "weights_source": "observed", "oracle": False, "status": "failed", "error": "boom"}
    with pytest.raises(NothingFinished, match="left as they were"):
        write_report([failed], tmp_path, figures=False)
    assert (tmp_path / "results.csv").read_text() == "kept\n"
    fresh = tmp_path / "fresh"
    write_report([failed], fresh, figures=False)  # a new folder gets the report of its failures
    assert (fresh / "report.html").is_file()


# 4. a command's outputs appear together


def test_simulate_writes_nothing_when_its_second_output_fails(tmp_path, labels_csv, capsys):
    (tmp_path / "afile").write_text("a file, not a folder\n")
    out = tmp_path / "o6.csv"
    code, err = simulate(labels_csv, out, capsys, "--hidden-out", tmp_path / "afile" / "h.csv")
    assert_one_line_error(code, err, "--hidden-out")
    assert not out.exists()


def test_an_atomic_group_replaces_nothing_on_an_error(tmp_path):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_group():
        write_text(first, "new\n")
        with atomic_open(second) as handle:
            handle.write("half")
            raise RuntimeError("the disk filled up")
    assert first.read_text() == "old\n" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.txt"]
    with atomic_group():
        write_text(first, "new\n")
        write_text(second, "two\n")
        assert first.read_text() == "old\n"  # the renames wait for the group's end
    assert first.read_text() == "new\n" and second.read_text() == "two\n"


# 5. figures appear whole or not at all


def test_a_figure_that_fails_to_save_leaves_the_previous_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlml.reports.figures import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png, pdf = save_figure(fig, tmp_path / "fig", formats=("png", "pdf"))
    before = pdf.read_bytes()
    original = fig.savefig

    def savefig(handle, **kwargs):
        if kwargs.get("format") == "pdf":
            handle.write(b"%PDF-half")
            raise OSError(28, "No space left on device")
        return original(handle, **kwargs)

    monkeypatch.setattr(fig, "savefig", savefig)
    with pytest.raises(OSError):
        save_figure(fig, tmp_path / "fig", formats=("png", "pdf"))
    assert pdf.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    plt.close(fig)


# 6. modes follow the umask; a replaced file keeps its own


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.html", "<html/>")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(write_text(tmp_path / "private.txt", "x").stat().st_mode) == 0o600
        path.chmod(0o640)
        write_text(path, "<html>again</html>")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)
