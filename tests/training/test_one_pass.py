"""Training several methods' heads in one pass (:mod:`mlml.training.one_pass`) gives, bitwise, what one
:func:`mlml.training.fit` per method gives: weights, histories, best epochs and validation probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mlml.exceptions import MLMLError
from mlml.training import TrainConfig, fit
from mlml.training.one_pass import fit_heads, one_pass_supported


def _data(seed: int = 0, n: int = 160, d: int = 12, c: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    logits = x @ rng.normal(size=(d, c)) - 1.0
    truth = (rng.random((n, c)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    truth[np.arange(n), rng.integers(0, c, n)] = 1
    observed = np.where(rng.random(truth.shape) < 0.4, 0, truth).astype(np.int8)
    return x[:120], observed[:120], x[120:], observed[120:]


def _stripped(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def _assert_same(separate, together):
    assert list(together) == list(separate)
    for name, alone in separate.items():
        joint = together[name]
        weights = zip(alone.model.state_dict().items(), joint.model.state_dict().items(), strict=True)
        for (key, a), (_, b) in weights:
            assert torch.equal(a, b), f"{name}: {key} differs"
        assert _stripped(alone.history) == _stripped(joint.history), name
        assert alone.best_epoch == joint.best_epoch, name
        np.testing.assert_array_equal(alone.val_proba, joint.val_proba)


CONFIG = dict(epochs=12, patience=3, batch_size=16, seed=3, num_threads=1, log=False)


@pytest.mark.parametrize("head_kwargs, grad_clip", [({}, None), ({"dropout": 0.3, "input_dropout": 0.1}, 0.5)])
def test_one_pass_is_bitwise_separate_training(head_kwargs, grad_clip):
    """Plain, focal, class-weighted and an adaptive (per-epoch refreshed) estimator's method; with dropout (each
    head's own RNG stream) and gradient clipping (each head's own norm). The heads stop at different epochs."""
    x, y, xv, yv = _data()
    config = TrainConfig(**CONFIG, head_kwargs=head_kwargs, grad_clip=grad_clip)
    methods = {"bce": "bce", "asl": "asl", "cb-wce": "cb-wce", "em": "knn-pu-em-balanced"}
    separate = {name: fit(x, y, m, config, validation=(xv, yv)) for name, m in methods.items()}
    together = fit_heads(x, y, methods, config, validation=(xv, yv))
    _assert_same(separate, together)
    assert len({len(r.history) for r in separate.values()}) > 1  # the stopping differs, so it is tested


def test_one_pass_with_sparse_labels_and_fixed_epochs():
    x, y, xv, yv = _data(1)
    config = TrainConfig(**{**CONFIG, "fixed_epochs": True, "epochs": 4})
    methods = {"bce": "bce", "hill": "hill"}
    separate = {name: fit(x, sp.csr_matrix(y), m, config, validation=(xv, yv)) for name, m in methods.items()}
    together = fit_heads(x, sp.csr_matrix(y), methods, config, validation=(xv, yv))
    _assert_same(separate, together)


def test_a_loss_with_its_own_parameters_is_trained_separately_and_the_same():
    """ROLE learns label estimates of its own: it is left out of the pass and trained by fit."""
    x, y, xv, yv = _data(2)
    config = TrainConfig(**CONFIG)
    methods = {"role": "role", "bce": "bce"}
    separate = {name: fit(x, y, m, config, validation=(xv, yv)) for name, m in methods.items()}
    _assert_same(separate, fit_heads(x, y, methods, config, validation=(xv, yv)))


def test_what_is_trained_in_one_pass_and_bad_input(tmp_path):
    assert one_pass_supported(TrainConfig(device="cpu"))
    assert not one_pass_supported(TrainConfig(device="cpu", checkpoint_dir=str(tmp_path)))
    assert not one_pass_supported(TrainConfig(mode="finetune", backbone="efficientnet_lite0"))
    x, y, xv, yv = _data()
    with pytest.raises(MLMLError, match="at least one method"):
        fit_heads(x, y, {}, TrainConfig(**CONFIG), validation=(xv, yv))
    with pytest.raises(MLMLError, match="validation rows"):
        fit_heads(x, y, {"bce": "bce"}, TrainConfig(**CONFIG))
    with pytest.raises(MLMLError, match="rows"):
        fit_heads(x[:-1], y, {"bce": "bce"}, TrainConfig(**CONFIG), validation=(xv, yv))


def test_lbfgs_heads_are_fitted_one_by_one() -> None:
    assert one_pass_supported(TrainConfig(head="linear"))
    assert not one_pass_supported(TrainConfig(head="linear", solver="lbfgs"))
