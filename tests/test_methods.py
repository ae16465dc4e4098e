"""Every registered method trains end to end (mlml.methods): one epoch each through the fold layer and fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlml.data
from mlml.folds import make_fold
from mlml.methods import METHODS
from mlml.training import TrainConfig, fit


@pytest.fixture(scope="module")
def fold():
    """300 yeast rows, a quarter of the training fold's positives hidden, validation rows carved."""
    yeast = mlml.data.load("yeast")
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


def _numeric_parameters(cls):
    import inspect

    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        default = parameter.default
        if name != "self" and isinstance(default, (int, float)) and not isinstance(default, bool):
            yield name


def _registry_cases():
    from mlml.losses import LOSSES
    from mlml.weights import ESTIMATORS

    for kind, registry in (("estimator", ESTIMATORS), ("loss", LOSSES)):
        for name in registry.names():
            for parameter in _numeric_parameters(registry.get(name)):
                yield pytest.param(kind, name, parameter, id=f"{kind}:{name}:{parameter}")


@pytest.mark.parametrize(("kind", "name", "parameter"), list(_registry_cases()))
@pytest.mark.parametrize("bad", [float("nan"), "x"], ids=["nan", "text"])
def test_every_numeric_parameter_of_every_registered_part_refuses_a_bad_value(kind, name, parameter, bad):
    """Walks the registries: every numeric parameter of every estimator and loss refuses NaN and text with an
    MLMLError naming it, by the time the part is used (``fit`` for an estimator, ``setup`` for a loss: scikit-learn's
    contract lets ``__init__`` store parameters as given)."""
    from mlml.exceptions import MLMLError
    from mlml.losses import LOSSES
    from mlml.weights import ESTIMATORS

    rng = np.random.default_rng(0)
    observed = (rng.random((40, 5)) < 0.3).astype(np.int8)
    with pytest.raises(MLMLError, match=parameter), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "estimator":
            part = ESTIMATORS.get(name)(**{parameter: bad})
            part.fit(observed, features=rng.normal(size=(40, 3)).astype(np.float32) if part.uses_features else None,
                     hidden=np.zeros(observed.shape, bool) if part.needs_hidden else None)
        else:
            LOSSES.get(name)(**{parameter: bad}).setup(observed)
