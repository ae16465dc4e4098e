"""Every registered method trains end to end (mlml.methods): one epoch each through the fold layer and fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlml.folds import make_fold
from mlml.methods import METHODS
from mlml.training import TrainConfig, fit


@pytest.fixture(scope="module")
def fold(yeast):
    """300 yeast rows, a quarter of the training fold's positives hidden, validation rows carved."""
    rows = yeast.subset(np.arange(300))
    return make_fold(rows, (np.arange(240), np.arange(240, 300)), ratio=0.25, seed=0, val_fraction=0.2,
                     inputs=np.asarray(rows.features))


@pytest.mark.parametrize("name", METHODS.names())
def test_every_registered_method_trains_one_epoch(fold, name):
    """One epoch of every method in ``METHODS`` (oracles with the hidden mask): finite losses, probabilities in
    [0, 1] for the test rows, and a fitted estimator whose weights of the training rows are finite."""
    method = METHODS.get(name)
    config = TrainConfig(epochs=1, fixed_epochs=True, head="linear", batch_size=64, device="cpu", num_threads=1,
                         log=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation,
                     hidden=fold.hidden_train if method.oracle else None)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])
    proba = result.predict_proba(fold.test_inputs)
    assert proba.shape == fold.test_labels.shape and np.all((proba >= 0) & (proba <= 1))
    pos, neg = result.estimator.transform(method.training_labels(fold.observed_train), rows=np.arange(len(fold.train)),
                                          features=fold.train_inputs if result.estimator.uses_features else None,
                                          hidden=fold.hidden_train if method.oracle else None)
    assert np.isfinite(pos).all() and np.isfinite(neg).all()
