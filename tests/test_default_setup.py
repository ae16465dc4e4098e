"""``mlml train``'s default path on sparse text: the recommended method trains the linear head with the full-batch
L-BFGS solver where the features are a sparse enough matrix (``mlml.service.default_setup``; issue 20, third
round), and nowhere else."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlml.cli import main
from mlml.methods import METHODS, RECOMMENDED_METHOD
from mlml.service import default_setup
from mlml.training.lbfgs import SPARSE_DENSITY, SPARSE_SETUP

RECOMMENDED = METHODS.get(RECOMMENDED_METHOD)


def _sparse(n: int, d: int, density: float, seed: int = 0) -> sp.csr_matrix:
    return sp.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64)


def test_the_recommended_method_on_sparse_text_gets_the_linear_head_with_lbfgs():
    assert default_setup(RECOMMENDED, _sparse(300, 500, 0.01), {}) == SPARSE_SETUP
    assert SPARSE_SETUP["head"] == "linear" and SPARSE_SETUP["solver"] == "lbfgs"


def test_dense_inputs_denser_matrices_other_methods_and_given_settings_are_left_alone():
    assert default_setup(RECOMMENDED, np.zeros((300, 50)), {}) == {}  # dense features (yeast, scene, ...)
    assert default_setup(RECOMMENDED, _sparse(300, 500, 4 * SPARSE_DENSITY), {}) == {}  # enron's 8 %
    assert default_setup(RECOMMENDED, ["a.png", "b.png"], {}) == {}  # image paths (fine-tuning)
    assert default_setup(METHODS.get("bce"), _sparse(300, 500, 0.01), {}) == {}  # no evidence for the others
    assert default_setup(RECOMMENDED, _sparse(300, 500, 0.01), {"head": "mlp"}) == {}
    assert default_setup(RECOMMENDED, _sparse(300, 500, 0.01), {"solver": "minibatch"}) == {}
    kept = default_setup(RECOMMENDED, _sparse(300, 500, 0.01), {"patience": 7, "seed": 0})
    assert "patience" not in kept and kept["solver"] == "lbfgs"


def _sparse_source(tmp_path) -> str:
    rng = np.random.default_rng(0)
    X = _sparse(240, 400, 0.01)
    signal = np.asarray(X[:, :4].todense()) > 0
    Y = (signal | (rng.random((240, 4)) < 0.1)).astype(np.int8)
    labels = pd.DataFrame(Y, columns=[f"topic{j}" for j in range(4)])
    labels.insert(0, "id", [f"doc{i}" for i in range(240)])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    sp.save_npz(tmp_path / "X.npz", X)
    return f"csv:{tmp_path / 'labels.csv'},{tmp_path / 'X.npz'}"


def test_mlml_train_on_sparse_text_says_so_and_stores_the_setup(tmp_path, capsys):
    source = _sparse_source(tmp_path)
    assert main(["train", source, "--ratio", "0.3", "--quiet", "--out", str(tmp_path / "m")]) == 0
    assert "the linear head with the full-batch L-BFGS solver" in capsys.readouterr().out
    config = json.loads((tmp_path / "m" / "model.json").read_text())["config"]
    assert (config["head"], config["solver"], config["patience"]) == ("linear", "lbfgs", 3)
    assert main(["train", source, "--ratio", "0.3", "--quiet", "--head", "mlp", "--out", str(tmp_path / "k")]) == 0
    assert "L-BFGS" not in capsys.readouterr().out
    config = json.loads((tmp_path / "k" / "model.json").read_text())["config"]
    assert (config["head"], config["solver"]) == ("mlp", "minibatch")
