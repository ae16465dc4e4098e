"""Helpers of the command-line safety tests: run a verb in-process, check that an error is one line."""

from pathlib import Path

from mlml.cli import main


def small_labels_csv(folder: Path) -> Path:
    """A 12-sample labels file (id and classes a, b, c; c positive everywhere) in ``folder``."""
    rows = ["id,a,b,c"] + [f"s{i},{i % 2},{(i // 2) % 2},1" for i in range(12)]
    path = folder / "labels.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def run(argv, capsys):
    """``mlml ARGV`` in this process: the exit code and stderr."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_error(code, err, pattern):
    """Exit code 2, one line on stderr holding ``pattern``, and no "may be a bug" (plain bad input is no bug)."""
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert pattern in err, err
    assert "may be a bug" not in err, err
