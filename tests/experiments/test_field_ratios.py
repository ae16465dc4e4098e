"""The single-positive scheme has no ratio axis (issue 22): a grid defaults to the one column ``ratios: [0]`` and
refuses others, so that ``mlml reproduce SOURCE --scheme single-positive --methods field`` runs the field's table
once, not once per default missing ratio (four draws of the same protocol)."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_line_error, run

from mlml.exceptions import MLMLError
from mlml.experiments import load_config
from mlml.experiments.trials import grid_trials


def test_single_positive_grid_defaults_to_one_ratio_column():
    config = load_config(None, methods=["field"], scheme="single-positive")
    assert config.ratios == [0.0]
    assert len(grid_trials(config)) == len(config.method_names) * config.folds
    assert load_config(None, methods=["bce"]).ratios == [0.0, 0.25, 0.5, 0.75]  # other schemes keep theirs


def test_single_positive_default_applies_to_a_config_file_without_ratios(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("scheme: single-positive\nmethods: [em]\n")
    assert load_config(path).ratios == [0.0]
    path.write_text("scheme: single-positive\nmethods: [em]\nratios: [0.0, 0.5]\n")
    with pytest.raises(MLMLError, match="do not apply to scheme 'single-positive'"):
        load_config(path)


@pytest.mark.parametrize("ratios", ["0,0.5", "0.5"])
def test_reproduce_refuses_ratios_with_single_positive_in_one_line(ratios, tmp_path, capsys):
    code, err = run(["reproduce", "yeast", "--scheme", "single-positive", "--methods", "em", "--ratios", ratios,
                     "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, err, "single-positive")
    assert not (tmp_path / "run" / "results.sqlite").exists()


def test_single_positive_run_is_not_reported_as_unsimulated_ratio_0(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _ = run(["reproduce", "yeast", "--scheme", "single-positive", "--methods", "em", "--folds", "2",
                   "--epochs", "1", "--no-progress", "--out", run_dir], capsys)
    assert code == 0
    report = next(run_dir.glob("report*.md")).read_text()
    assert "Data set: yeast" in report and "Rows at ratio 0" not in report
