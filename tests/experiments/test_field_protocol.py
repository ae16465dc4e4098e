"""The single-positive field's protocol (issue 22): the ``field`` preset, model selection on observed or complete
validation labels, and one end-to-end single-positive grid on the built-in yeast."""

from __future__ import annotations

import numpy as np
import pytest

from mlml.cli import main
from mlml.exceptions import MLMLError
from mlml.experiments import ResultStore, load_config
from mlml.experiments.trials import grid_trials, trial_fold
from mlml.methods import METHOD_PRESETS, METHODS


def test_field_preset_expands_and_both_variants_are_named_and_hashed_apart():
    config = load_config(None, methods=["field", "knn-pu-em"], val_set_variants=["observed", "complete"],
                         scheme="single-positive", ratios=[0.0])
    names = config.method_names
    field = list(METHOD_PRESETS["field"])
    assert names[: 2 * len(field)][::2] == field
    assert names[1::2][: len(field)] == [f"{m}@complete-val" for m in field]
    assert "knn-pu-em" in names and "knn-pu-em@complete-val" in names
    methods = config.resolved_methods()
    assert methods["em"].val_set_variant == "observed"
    assert methods["em@complete-val"].val_set_variant == "complete"
    assert methods["em@complete-val"].definition()["val_set_variant"] == "complete"
    # the default variant leaves a method's definition, and so the trial ids of existing runs, unchanged
    assert "val_set_variant" not in methods["em"].definition()
    assert methods["em"].definition() == METHODS.get("em").definition()
    plain = load_config(None, methods=["em"], scheme="single-positive", ratios=[0.0])
    assert plain.trial_hash() == config.trial_hash()


def test_bad_val_set_variant_names_the_parameter():
    with pytest.raises(MLMLError, match="val_set_variants"):
        load_config(None, val_set_variants=["clean"])


def test_complete_validation_reads_the_hidden_positives_of_the_validation_rows():
    config = load_config(None, methods=["em"], val_set_variants=["observed", "complete"], scheme="single-positive",
                         ratios=[0.0], folds=2)
    trial = grid_trials(config)[0]
    fold = trial_fold(trial, config)
    x_obs, observed = fold.validation_for("observed")
    x_all, complete = fold.validation_for("complete")
    assert np.array_equal(np.asarray(x_obs), np.asarray(x_all))
    np.testing.assert_array_equal(complete, fold.dataset.labels[fold.val])
    assert (np.asarray(observed).sum(axis=1) == 1).all()  # single positive: one label kept per row
    assert np.asarray(complete).sum() > np.asarray(observed).sum()
    np.testing.assert_array_equal(np.asarray(observed)[np.asarray(observed) == 1],
                                  np.asarray(complete)[np.asarray(observed) == 1])


def test_single_positive_field_grid_runs_end_to_end_with_both_variants(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["reproduce", "yeast", "--scheme", "single-positive", "--methods", "em-apl,ll-cp,gpr-pu",
                 "--val-set-variant", "both", "--ratios", "0", "--folds", "2", "--epochs", "3", "--no-progress",
                 "--out", str(run)])
    assert code == 0
    records = ResultStore(run / "results.sqlite").records()
    assert len(records) == 3 * 2 * 2 and all(r["status"] == "done" for r in records)
    by_method = {r["method"] for r in records}
    assert by_method == {"em-apl", "ll-cp", "gpr-pu", "em-apl@complete-val", "ll-cp@complete-val",
                         "gpr-pu@complete-val"}
    assert "@complete-val" in capsys.readouterr().out
