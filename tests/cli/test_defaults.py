"""Defaults that work: ``mlml train`` without ``--method``, the thread count, per-epoch progress, ``mlml methods``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlml._threads import MACS_PER_THREAD, auto_threads
from mlml.cli import main
from mlml.methods import METHODS, RECOMMENDED_METHOD

SRC = Path(__file__).resolve().parents[2] / "src"


def test_train_without_method_uses_the_recommended_method_its_policy_one_thread_and_shows_progress(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "yeast", "--ratio", "0.5", "--epochs", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == RECOMMENDED_METHOD
    policy = METHODS.get(RECOMMENDED_METHOD).threshold_policy
    assert f"decides with its own policy {policy!r}" in captured.out
    assert meta["config"]["num_threads"] == 1  # a 30k-parameter head: one thread
    assert "epoch   0  train_loss" in captured.err and "val_map" in captured.err
    assert main(["train", "yeast", "--epochs", "1", "--method", "bce", "--num-threads", "2", "--quiet",
                 "--out", str(tmp_path / "q")]) == 0
    captured = capsys.readouterr()
    assert "epoch" not in captured.err
    assert json.loads((tmp_path / "q" / "model.json").read_text())["config"]["num_threads"] == 2


def test_auto_threads_grows_with_the_step_and_stays_within_the_cores():
    assert auto_threads(30_000, 64, cpu_count=64) == 1
    assert auto_threads(MACS_PER_THREAD // 64 * 3, 64, cpu_count=64) == 3
    assert auto_threads(10**12, 64, cpu_count=2) == 2
    assert auto_threads(10**12, 64, cpu_count=64) == 8


def test_methods_marks_the_default_lists_every_loss_and_imports_no_torch():
    code = ("import sys, io, contextlib\nfrom mlml.cli import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): main(['methods'])\n"
            "print(buf.getvalue()); print('TORCH', 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert "TORCH False" in done.stdout
    assert f"*{RECOMMENDED_METHOD}" in done.stdout and "when to use what:" in done.stdout
    from mlml.losses import LOSSES

    listed = next(line for line in done.stdout.splitlines() if line.startswith("losses: "))
    assert sorted(listed[len("losses: "):].split(", ")) == sorted(LOSSES.names())


@pytest.mark.parametrize("verb", ["train", "predict", "evaluate", "suggest", "simulate"])
def test_help_shows_defaults(verb, capsys):
    assert main([verb, "--help"]) == 0
    assert "(default:" in capsys.readouterr().out
