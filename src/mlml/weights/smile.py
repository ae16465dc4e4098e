"""SMILE's label enhancement (Xu, Liu, Geng et al., NeurIPS 2022, "One Positive Label is Sufficient: Single-Positive
Multi-Label Learning with Label Enhancement"; palm-ml/smile ``train_smile2.py``, ``spl_models.py``,
``gen_adj.py``), for tabular features.

A label-enhancement model recovers, from the features and the observed labels of the training rows, a *label
distribution* ``D1`` in ``[0, 1]^C``: a two-layer graph convolution over the k-nearest-neighbour graph of the
training rows followed by a linear layer (``GCN``), trained as a variational model whose decoder reconstructs the
features, the labels and the graph:

* the graph: ``A[i, j] = 1`` where ``j`` is one of the ``k = 3`` nearest training rows of ``i`` (Euclidean, ``i``
  itself excluded; ``gen_adj_matrix_2``), a directed edge ``i -> j``; each graph convolution is DGL's
  ``GraphConv(norm='both')``, ``h'_j = Σ_i A[i, j] h_i W / sqrt(d_out(i) d_in(j)) + b`` (degrees clamped at 1);
* ``D1 = σ(GCN(A, X))``; ``h = MLP([x, D1])`` (``encoder_z``); decoder: ``x̂ = MLP([D1, h])``,
  ``ŷ ~ Beta(D1 + 1e-5, 1 − D1 + 1e-5)`` (reparameterised), ``Â = ŷ ŷᵀ`` on the batch;
* objective per batch (``vae_loss``): ``AN(D1, y) + γ (‖x̂ − x‖² + AN(ŷ, y) + ‖Â − A_batch‖²) + δ KL(D1)`` with
  ``AN`` the assume-negative BCE (mean over entries), the squared errors means, and the authors' Beta "KL"
  ``mean(lgamma(a) + lgamma(b) + (a − 1) ψ(a) + (b − 1) ψ(b))`` at ``a = D1, b = 1 − D1`` (``beta_kl_loss``);
  γ = 0.001, δ = 1; Adam, learning rate 1e-3, batches of 16, 10 epochs (their defaults and README).

The weights the classifier trains with are the enhanced labels ``D = μ D1 + (1 − μ) D2`` with ``D2`` the observed
labels whose zeros are set to ``p`` (``batch_D_score_2``), detached: ``ω = D`` and ``ω̄ = 1 − D`` on the observed
positives and zeros, i.e. the soft target of the ``smile`` loss (:mod:`mlml.losses.functional.enhanced`).

Differences, on purpose: the authors train the label-enhancement model and the classifier in the same loop, the
classifier reading ``D1`` as it is at each step; the classifier never feeds the label-enhancement model, so ours
trains it first (same epochs, batches and optimiser) and the classifier reads its final ``D1`` -- the two-stage
form of label enhancement. Features are standardised (scikit-learn's ``StandardScaler``) before the graph and the
model, as our ``knn`` estimator does. The kNN search is scikit-learn's (ties may be broken otherwise than the
authors' ``argmin`` loop). The graph is transductive: new rows (``rows=None``: validation, test) get ``D2``, no
enhancement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._params import COUNT, FRACTION, NON_NEGATIVE, POSITIVE_INT, POSITIVE_REAL
from mlml._threads import torch_threads
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix, to_dense
from mlml.weights.base import ESTIMATORS, WeightEstimator

LOG_EPSILON = 1e-5
BETA_EPSILON = 1e-5


def knn_graph(features: np.ndarray, k: int) -> sp.csr_matrix:
    """``A``: CSR ``(n, n)`` with ``A[i, j] = 1`` for the ``k`` nearest other rows ``j`` of row ``i`` (Euclidean)."""
    from sklearn.neighbors import NearestNeighbors

    n = features.shape[0]
    k = min(k, n - 1)
    neighbours = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(features).kneighbors(return_distance=False)
    rows = np.repeat(np.arange(n), k)
    return sp.csr_matrix((np.ones(n * k), (rows, neighbours.ravel())), shape=(n, n))


def graph_conv_operator(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """DGL ``GraphConv(norm='both')``'s aggregation on the graph of edges ``i -> j`` where ``A[i, j] = 1``:
    ``Â = diag(d_in)^{-1/2} Aᵀ diag(d_out)^{-1/2}`` (degrees clamped at 1), so that a layer is ``Â (H W) + b``."""
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    d_out = np.maximum(np.asarray(a.sum(axis=1)).ravel(), 1.0)
    d_in = np.maximum(np.asarray(a.sum(axis=0)).ravel(), 1.0)
    return sp.csr_matrix(sp.diags(d_in ** -0.5) @ a.T @ sp.diags(d_out ** -0.5))


def enhancement_objective(x, y_obs, d_score, a_block, x_rec, y_rec, a_rec, *, gamma: float, delta: float):
    """The label-enhancement model's loss on a batch (palm-ml/smile ``train_smile2.py`` ``vae_loss``), torch
    tensors: ``AN(D1, y) + γ (mse(x̂, x) + AN(ŷ, y) + mse(Â, A_batch)) + δ KL(D1)``. ``AN`` is the authors'
    ``loss_an`` (``−log(· + 1e-5)``, mean over entries) and ``KL`` their ``beta_kl_loss(D1, 1 − D1, 1)``."""
    import torch
    import torch.nn.functional as F

    def assume_negative(p):
        return torch.where(y_obs == 1, -torch.log(p + LOG_EPSILON), -torch.log(1.0 - p + LOG_EPSILON)).mean()

    alpha, beta = d_score + 1e-6, 1.0 - d_score + 1e-6
    kl = (torch.lgamma(alpha) + torch.lgamma(beta) + (alpha - 1.0) * torch.digamma(alpha)
          + (beta - 1.0) * torch.digamma(beta)).mean()
    reconstruction = F.mse_loss(x_rec, x) + assume_negative(y_rec) + F.mse_loss(a_rec, a_block)
    return assume_negative(d_score) + gamma * reconstruction + delta * kl


def _mlp(n_in: int, n_out: int) -> Any:
    from torch import nn

    return nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU(), nn.Linear(n_out, n_out))


@ESTIMATORS.register("smile")
class SmileEnhancement(WeightEstimator):
    """SMILE's label enhancement (module docstring): ``ω = D``, ``ω̄ = 1 − D`` with ``D = μ D1 + (1 − μ) D2``.

    Args:
        mu: μ in [0, 1], the share of the recovered distribution ``D1`` (the rest: the observed labels).
        zero_prior: ``p`` in [0, 1], the value of an observed zero in ``D2``.
        n_neighbors: ``k`` of the kNN graph (3, the authors').
        epochs, batch_size, lr: the label-enhancement model's training (10, 16, 1e-3, the authors').
        gamma, delta: the weights of the reconstruction and KL terms (0.001, 1).
        random_state: seeds the initialisation, the batches and the Beta samples.
        num_threads: torch intra-op threads during fit (None: leave torch's setting; the grid's trainer already
            runs with one).

    Defaults μ = 0.5, p = 0.05: the authors' README for yeast (they set μ, p and the classifier's zero weight per
    data set; pass others with ``--method-param``).
    """

    uses_features = True
    uses_rows = True
    _parameter_constraints = {
        "mu": [FRACTION], "zero_prior": [FRACTION], "n_neighbors": [POSITIVE_INT], "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT], "lr": [POSITIVE_REAL], "gamma": [NON_NEGATIVE], "delta": [NON_NEGATIVE],
        "random_state": [COUNT], "num_threads": [None, POSITIVE_INT],
    }

    def __init__(self, mu: float = 0.5, zero_prior: float = 0.05, n_neighbors: int = 3, epochs: int = 10,
                 batch_size: int = 16, lr: float = 1e-3, gamma: float = 0.001, delta: float = 1.0,
                 random_state: int = 0, num_threads: int | None = None) -> None:
        self.mu = mu
        self.zero_prior = zero_prior
        self.n_neighbors = n_neighbors
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.gamma = gamma
        self.delta = delta
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, observed: LabelMatrix, *, features: Any, hidden: Any) -> None:
        import torch
        from sklearn.preprocessing import StandardScaler

        owner = type(self).__name__
        threads = self.num_threads
        if features is None:
            raise MLMLError("The 'smile' estimator uses features: pass features=(n_samples, n_features) to fit.")
        x = features.toarray() if sp.issparse(features) else np.asarray(features, dtype=np.float64)
        dense = to_dense(observed)
        if x.ndim != 2 or x.shape[0] != dense.shape[0]:
            raise MLMLError(f"'features' has shape {x.shape}; 'observed' has {dense.shape[0]} rows.")
        if dense.shape[0] < 2:
            raise MLMLError(f"{owner} needs at least 2 training rows. Got {dense.shape[0]}.")
        x = StandardScaler().fit_transform(x)
        adjacency = knn_graph(x, int(self.n_neighbors))
        with torch_threads(threads):
            self.d1_ = self._train(torch, x, dense, adjacency)

    def _train(self, torch: Any, x: np.ndarray, dense: np.ndarray, adjacency: sp.csr_matrix) -> np.ndarray:
        n, d = x.shape
        c = dense.shape[1]
        op = graph_conv_operator(adjacency).tocoo()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            conv_op = torch.sparse_coo_tensor(np.vstack([op.row, op.col]), op.data, (n, n), dtype=torch.float32,
                                              check_invariants=True).coalesce()
            xt = torch.as_tensor(x, dtype=torch.float32)
            y_obs = torch.as_tensor(dense == POSITIVE, dtype=torch.float32)
            conv1, conv2, fc = torch.nn.Linear(d, c), torch.nn.Linear(c, c), torch.nn.Linear(c, c)
            encoder_z, decoder_x = _mlp(d + c, c), _mlp(2 * c, d)
            parts = torch.nn.ModuleList([conv1, conv2, fc, encoder_z, decoder_x])
            optimizer = torch.optim.Adam(parts.parameters(), lr=float(self.lr))

            def distribution() -> Any:  # GCN: GraphConv, ReLU, GraphConv, Linear; then σ
                h = torch.relu(torch.sparse.mm(conv_op, xt @ conv1.weight.T) + conv1.bias)
                h = torch.sparse.mm(conv_op, h @ conv2.weight.T) + conv2.bias
                return torch.sigmoid(fc(h))

            generator = np.random.default_rng(np.random.SeedSequence([int(self.random_state), 0x5311E]))
            csr = adjacency.tocsr()
            for _ in range(int(self.epochs)):
                order = generator.permutation(n)
                for start in range(0, n, int(self.batch_size)):
                    idx = order[start:start + int(self.batch_size)]
                    it = torch.as_tensor(idx)
                    d_score = distribution()[it]
                    hid = encoder_z(torch.cat([xt[it], d_score], dim=1))
                    x_rec = decoder_x(torch.cat([d_score, hid], dim=1))
                    y_rec = torch.distributions.Beta(d_score + BETA_EPSILON, 1 - d_score + BETA_EPSILON).rsample()
                    a_rec = y_rec @ y_rec.T
                    a_block = torch.as_tensor(csr[idx][:, idx].toarray(), dtype=torch.float32)
                    loss = enhancement_objective(xt[it], y_obs[it], d_score, a_block, x_rec, y_rec, a_rec,
                                                 gamma=float(self.gamma), delta=float(self.delta))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                return distribution().double().numpy()

    def enhanced_labels(self, observed: LabelMatrix, rows: np.ndarray | None = None) -> np.ndarray:
        """``D = μ D1 + (1 − μ) D2`` of the batch (``D2`` where ``rows`` is None: new rows)."""
        self._check_fitted()
        dense = to_dense(observed)
        d2 = np.where(dense == POSITIVE, 1.0, float(self.zero_prior))
        if rows is None:
            return d2
        return float(self.mu) * self.d1_[rows] + (1.0 - float(self.mu)) * d2

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        d = self.enhanced_labels(observed, rows)
        return d, 1.0 - d
