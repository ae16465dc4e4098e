"""The grid measures ``select`` where its report shows it or a method decides with it, and only there (it costs a
diagnosis per training fold)."""

import warnings

from mlml.experiments.config import GridConfig
from mlml.experiments.trials import grid_trials, measures_select, run_trial


def _config(methods, thresholds):
    return GridConfig(datasets=["yeast"], ratios=[0.5], methods=methods, folds=4, thresholds=thresholds,
                      train={"epochs": 2, "fixed_epochs": True}).validate()


def test_which_grids_measure_select():
    assert not measures_select(_config(["bce", "cb-wce"], "own"))
    assert measures_select(_config(["bce", "knn-pu-em-balanced"], "own"))  # its own policy is select
    assert measures_select(_config(["bce"], "all")) and measures_select(_config(["bce"], "select"))
    assert not measures_select(_config(["bce"], "both"))


def test_a_trial_records_select_with_the_share_it_read_or_leaves_it_out():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = run_trial(grid_trials(_config(["knn-pu-em-balanced"], "own"))[0], _config(["knn-pu-em-balanced"],
                                                                                              "own"))
        left_out = run_trial(grid_trials(_config(["bce"], "own"))[0], _config(["bce"], "own"))
    assert "select" in measured.metrics_policies and measured.own_policy == "select"
    assert "select" not in left_out.metrics_policies and "pu" in left_out.metrics_policies
