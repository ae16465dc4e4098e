"""``TrainConfig(solver="lbfgs")``: the full-batch L-BFGS solver of frozen linear heads (mlml.training.lbfgs)
reaches the optimum of its convex objective (checked against scipy.optimize in float64), gives the same model on
sparse and dense features, runs the adaptive default method's EM rounds reproducibly, and is refused where its
objective is not convex."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

import mlml.training.lbfgs as lbfgs
from mlml.exceptions import MLMLError
from mlml.training import TrainConfig, fit
from mlml.training.checkpoint import fingerprint

FAST = dict(num_threads=1, log=False, device="cpu", seed=3, head="linear", solver="lbfgs")


@pytest.fixture(scope="module")
def rows():
    """120 rows of 6 features, 3 labels from a noisy linear model, a fifth of the entries unknown (-1)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    w = rng.normal(size=(6, 3))
    y = (x @ w + rng.normal(scale=1.0, size=(120, 3)) > 0.2).astype(np.int8)
    y[rng.random(y.shape) < 0.2] = -1
    return x, y


def _reference(x, y, weight_decay):
    """The objective written out (float64) and minimised by scipy: the mean over all ``n * C`` entries of the
    known entries' BCE, plus ``weight_decay / 2 * ||W||^2`` (bias not penalised)."""
    n, d = x.shape
    c = y.shape[1]
    known = (y != -1).astype(np.float64)
    t = (y == 1).astype(np.float64)

    def objective(theta):
        w, b = theta[: c * d].reshape(c, d), theta[c * d :]
        z = x @ w.T + b
        loss = known * (np.logaddexp(0.0, z) - t * z)
        p = 1.0 / (1.0 + np.exp(-z))
        g = known * (p - t) / (n * c)
        grad_w = g.T @ x + weight_decay * w
        return loss.sum() / (n * c) + 0.5 * weight_decay * (w**2).sum(), np.concatenate([grad_w.ravel(), g.sum(0)])

    done = minimize(objective, np.zeros(c * d + c), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    return done.x[: c * d].reshape(c, d), done.x[c * d :]


def test_reaches_scipy_optimum(rows):
    x, y = rows
    config = TrainConfig(**FAST, weight_decay=0.01, standardize=False, fixed_epochs=True, epochs=50)
    result = fit(x.astype(np.float32), y, "bce", config)
    linear = result.model.head.net
    w_ref, b_ref = _reference(x, y, 0.01)
    np.testing.assert_allclose(linear.weight.detach().numpy(), w_ref, atol=2e-3)
    np.testing.assert_allclose(linear.bias.detach().numpy(), b_ref, atol=2e-3)
    assert len(result.history) < 50  # stopped on convergence, not on the round budget


def test_minibatch_adamw_approaches_the_same_optimum(rows):
    """A long full-batch AdamW run of the same objective lands near the solver's solution."""
    x, y = rows
    common = dict(weight_decay=0.0, standardize=False, fixed_epochs=True)
    solved = fit(x.astype(np.float32), y, "bce", TrainConfig(**FAST, **common, epochs=50))
    adam = TrainConfig(**{**FAST, "solver": "minibatch"}, **common, epochs=1500, batch_size=120, lr=0.05,
                       lr_schedule="none")
    adam = fit(x.astype(np.float32), y, "bce", adam)
    np.testing.assert_allclose(adam.model.head.net.weight.detach().numpy(),
                               solved.model.head.net.weight.detach().numpy(), atol=0.02)


def test_sparse_equals_dense(rows, monkeypatch):
    x, y = rows
    x = np.where(np.abs(x) > 1.0, x, 0.0)  # about a third non-zero
    config = TrainConfig(**FAST, fixed_epochs=True, epochs=50)
    seen = []
    matrix = lbfgs.LBFGSSolver._matrix

    def spy(self, inputs):
        out = matrix(self, inputs)
        seen.append(out[1])
        return out

    monkeypatch.setattr(lbfgs.LBFGSSolver, "_matrix", spy)
    dense = fit(x.astype(np.float32), y, "bce", config)
    monkeypatch.setattr(lbfgs, "SPARSE_DENSITY", 1.0)  # the solver's sparse product for this matrix
    sparse = fit(sp.csr_matrix(x), y, "bce", config)
    assert seen == [False, True]
    a, b = (r.predict_proba(x.astype(np.float32)) for r in (dense, sparse))
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_adaptive_method_rounds_reproducible(rows):
    x, y = rows
    y = np.where(y == -1, 0, y).astype(np.int8)
    config = TrainConfig(**FAST, epochs=8, patience=3, lbfgs_steps=5)
    runs = [fit(x[:100].astype(np.float32), y[:100], "knn-pu-em-balanced", config, validation=(x[100:], y[100:]))
            for _ in range(2)]
    assert 1 <= len(runs[0].history) <= 8
    assert [h["train_loss"] for h in runs[0].history] == [h["train_loss"] for h in runs[1].history]
    np.testing.assert_array_equal(runs[0].val_proba, runs[1].val_proba)


@pytest.mark.parametrize(
    ("settings", "method", "needle"),
    [
        ({"solver": "newton"}, "bce", "'solver'"),
        ({"solver": "lbfgs", "lbfgs_steps": 0}, "bce", "'lbfgs_steps'"),
        ({"solver": "lbfgs", "head": "mlp"}, "bce", "head='linear'"),
        ({"solver": "lbfgs", "head": "linear"}, "asl", "not a convex"),
        ({"solver": "lbfgs", "head": "linear"}, "role", "not a convex"),
    ],
)
def test_refused(rows, settings, method, needle):
    x, y = rows
    with pytest.raises(MLMLError, match=needle):
        fit(x.astype(np.float32), y, method,
            TrainConfig(**{**FAST, **settings}, fixed_epochs=True, epochs=2))


def test_default_solver_keeps_checkpoint_fingerprints():
    """The new fields stay out of the fingerprint at their default: earlier runs' checkpoints still resume."""
    from mlml.methods import METHODS

    assert "solver" not in TrainConfig().semantic_dict()
    method = METHODS.get("bce")
    lbfgs_config = TrainConfig(solver="lbfgs", head="linear")
    assert fingerprint(TrainConfig(), method, 1, ()) != fingerprint(lbfgs_config, method, 1, ())


def test_cli_solver(tmp_path, capsys, monkeypatch):
    """``mlml train --solver lbfgs``: trains a linear head and records the solver; another head or a non-convex
    method is refused in one line before the data set is read."""
    import json

    from cli_helpers import assert_one_line_error, run

    import mlml.cli.train as cli_train

    model = tmp_path / "model"
    code, err = run(["train", "yeast", "--ratio", "0.5", "--head", "linear", "--solver", "lbfgs", "--epochs", "3",
                     "--quiet", "--out", model], capsys)
    assert code == 0, err
    assert json.loads((model / "model.json").read_text())["config"]["solver"] == "lbfgs"

    def unread(*args, **kwargs):
        raise AssertionError("the data set was read before the refusal")

    monkeypatch.setattr(cli_train, "_load_source", unread)
    code, err = run(["train", "yeast", "--solver", "lbfgs", "--out", tmp_path / "m2"], capsys)
    assert_one_line_error(code, err, "head='linear'")
    code, err = run(["train", "yeast", "--method", "asl", "--head", "linear", "--solver", "lbfgs",
                     "--out", tmp_path / "m3"], capsys)
    assert_one_line_error(code, err, "not a convex")


def test_checkpoint_of_a_finished_run_resumes(rows, tmp_path):
    """A checkpointed lbfgs run, fitted again with the same settings, resumes as done: the same model."""
    x, y = rows
    y = np.where(y == -1, 0, y).astype(np.int8)
    config = TrainConfig(**FAST, epochs=6, patience=2, lbfgs_steps=5, checkpoint_dir=str(tmp_path))
    args = (x[:100].astype(np.float32), y[:100], "knn-pu-em-balanced", config)
    first = fit(*args, validation=(x[100:], y[100:]))
    again = fit(*args, validation=(x[100:], y[100:]))
    assert again.history == first.history
    np.testing.assert_array_equal(again.val_proba, first.val_proba)
