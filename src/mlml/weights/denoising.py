"""Labels-only detectors of missing positives trained by hiding observed positives on purpose.

Self-supervision in the spirit of denoising autoencoders for collaborative filtering (Wu et al. 2016,
"Collaborative denoising auto-encoders for top-N recommender systems"): a corrupted copy of a fitted sample is
drawn by hiding some of its observed positives with :func:`mlml.simulate.hide_positives` (per-sample scheme,
ratio ``drop_ratio``), and a model learns, from the positives left in the copy, which of its zero entries
were hidden. Its output ``p_c(x)`` is a probability that a zero entry is a positive hidden by a process like
the simulated one, and for a sample's observed labels ``x``::

    ω̄_ic = 1 − p_c(x)  for y_ic = 0,     ω̄_ic = 0 for observed positives,     ω_ic = 1.

Unknown (``-1``) entries are neither inputs nor targets, and get ``ω = ω̄ = 0`` (the base contract).

``denoising-logistic`` (:class:`DenoisingLogistic`): ``n_copies`` corrupted copies of each fitted sample are
drawn once, and a multi-output logistic regression::

    p_c(x) = σ(x W_{:, c} + b_c),    x ∈ {0, 1}^L the kept positives,

is fitted by L-BFGS (scipy) on the mean, over copies, of the masked binary cross-entropy
``−Σ_{c : x_c = 0, y_c ≠ -1} [t_c log p_c + (1 − t_c) log(1 − p_c)] + (α / 2) ‖W‖²`` (``t_c = 1`` for a hidden
positive). ``W`` is a dense ``(n_labels, n_labels)`` matrix.

``denoising-mlp`` (:class:`DenoisingMLP`): the same masked cross-entropy, with ``p(x) = σ(f(x))`` for a small
torch MLP ``f``: ``Linear(L, h) → ReLU → (Linear(h, h) → ReLU) × (n_layers − 1) → Linear(h, L)`` (``h =
hidden = 256``, ``n_layers = 2``). Training: AdamW (``learning_rate = 1e-3``, ``weight_decay = 1e-5``),
``epochs = 30`` passes over the fitted rows in shuffled batches of ``batch_size = 256``; the loss of a batch is
the masked cross-entropy (:func:`torch.nn.functional.binary_cross_entropy_with_logits`) summed over its entries
and divided by its rows. EACH EPOCH draws a FRESH corruption of every fitted row (``drop_ratio = 0.3``). With
``n_models > 1`` the probabilities of that many independently seeded networks are averaged.

Why a fresh corruption per epoch: it is data augmentation. A sample with ``k`` positives has
``C(k, round(0.3 k))`` corrupted copies; fixed copies (what ``denoising-logistic`` fits) can let a model learn
the copies themselves -- which positive is missing from THIS copy -- instead of which labels go together. More
fixed copies help the logistic model a little (split 1, r = 0.5: AUC 0.9167 / 0.9184 / 0.9190 / 0.9193 with
1 / 2 / 4 / 8 copies, the fit time growing in proportion); the MLP trained on 2 fixed copies, cycled, reaches
0.9211 against 0.9234 with a fresh draw each epoch (the draws cost ~1 s of the fit). ``n_layers = 0`` gives a
linear model, but these optimiser settings leave it far from converged (0.746, below the class prior): use
``denoising-logistic`` for the linear model.

Figures: detection of the seed's own hidden positives among the zero entries of the observed training labels
(COCO seed folds, 24,731 x 80 per split), ROC-AUC / AP of ``1 − ω̄`` with default parameters
(``benchmarks/bench_weights.py``, this project's 2-core development machine; fit on 1 torch thread ≈ 9.6 s,
2 threads ≈ 6.5 s, transform 0.1 s):

=====================  ===============  ===============  ===============
split 1                r = 0.25         r = 0.5          r = 0.75
=====================  ===============  ===============  ===============
pairwise-noisy-or      0.9188 / 0.309   0.9119 / 0.400   0.8628 / 0.353
denoising-logistic     0.9349 / 0.345   0.9184 / 0.400   0.8472 / 0.333
denoising-mlp          0.9386 / 0.380   0.9234 / 0.424   0.8606 / 0.304
=====================  ===============  ===============  ===============

At r = 0.5 on splits 1-4 the AUC is 0.9234 / 0.9239 / 0.9246 / 0.9229 (``denoising-logistic`` 0.9184 /
0.9185 / 0.9187 / 0.9185), and ``n_models = 3`` adds 0.0015-0.0019 (0.9252 / 0.9258 / 0.9261 / 0.9245) for
three times the fit. Across seeds (split 1) AUC moves by < 0.001 but AP by up to 0.02 (0.402-0.424). Two
limits: at r = 0.75 its AUC is below ``pairwise-max`` and ``pairwise-mean`` and its AP below every pairwise
estimate; and the number of optimiser steps is proportional to the rows, so on small training sets the
defaults underfit (2,000 COCO rows: AUC 0.79-0.81, the class prior's level; ``batch_size = 64`` gives 0.905).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from mlml._params import COUNT, NON_NEGATIVE, POSITIVE_INT, POSITIVE_REAL, Interval
from mlml._params import RandomState as RandomStateConstraint
from mlml._threads import torch_threads
from mlml._validation import RandomState, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix
from mlml.simulate import hide_positives
from mlml.weights.base import ESTIMATORS, WeightEstimator
from mlml.weights.pairwise import indicator

#: The ratio of observed positives hidden in a corrupted copy: a float in the open interval (0, 1).
DROP_RATIO = Interval(Real, 0, 1, closed="neither")


def _corrupt(observed: LabelMatrix, drop_ratio: float, rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One corrupted copy of every row of ``observed``: CSR ``(n_samples, n_labels)`` float64 indicators of
    the kept positives (the input) and of the positives hidden from the copy (the targets)."""
    kept, dropped = hide_positives(observed, drop_ratio, random_state=rng)
    return indicator(kept, POSITIVE), indicator(dropped, 1)


def _loss_mask(kept: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """bool: the entries a corrupted copy is scored on -- zero in the copy (not a kept positive), not unknown."""
    return ~((kept > 0) | (unknown > 0))


class _Denoising(WeightEstimator):
    """What the denoising detectors share: ``predict_proba`` checks, and ω̄ = 1 − p(x) on observed zeros."""

    def predict_proba(self, positives: LabelMatrix) -> np.ndarray:
        """``(n_samples, n_labels)`` ``p_c(x)`` for the 0/1 indicator ``x`` of the observed positives (CSR or
        dense)."""
        self._check_fitted()
        positives = sp.csr_matrix(positives, dtype=np.float64)
        if positives.shape[1] != self.n_labels_:
            raise MLMLError(
                f"positives has {positives.shape[1]} columns; {type(self).__name__} was fitted on "
                f"{self.n_labels_} labels."
            )
        return self._predict_proba(positives)

    def _predict_proba(self, positives: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        positives = indicator(observed, POSITIVE)
        neg = 1.0 - self._predict_proba(positives)
        neg[positives.toarray() > 0] = 0.0
        return np.ones(observed.shape), np.clip(neg, 0.0, 1.0)


@ESTIMATORS.register("denoising-logistic")
class DenoisingLogistic(_Denoising):
    """Logistic regression trained to find deliberately hidden positives (see the module docstring).

    Args:
        drop_ratio: the ratio of observed positives hidden in each corrupted copy (in (0, 1)).
        n_copies: corrupted copies per fitted sample.
        alpha: L2 penalty on ``W`` (per fitted copy; the loss is a mean).
        max_iter: L-BFGS iterations.
        random_state: seed or Generator for the corruption.

    Attributes:
        coef_: ``(n_labels, n_labels)`` ``W`` (row: kept label, column: predicted label).
        intercept_: ``(n_labels,)`` ``b``.
        n_iter_: L-BFGS iterations run.
    """

    _parameter_constraints = {"drop_ratio": [DROP_RATIO], "n_copies": [POSITIVE_INT], "alpha": [NON_NEGATIVE],
                              "max_iter": [POSITIVE_INT], "random_state": [RandomStateConstraint()]}

    def __init__(
        self,
        drop_ratio: float = 0.3,
        n_copies: int = 2,
        alpha: float = 1e-4,
        max_iter: int = 300,
        random_state: RandomState = 0,
    ) -> None:
        self.drop_ratio = drop_ratio
        self.n_copies = n_copies
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        params = self._checked_params()
        drop, copies, max_iter = params["drop_ratio"], params["n_copies"], params["max_iter"]
        rng = check_random_state(self.random_state)
        unknown = indicator(observed, UNKNOWN).toarray()
        inputs, targets, masks = [], [], []
        for _ in range(copies):
            kept, dropped = _corrupt(observed, drop, rng)
            inputs.append(kept)
            targets.append(dropped.toarray())
            masks.append(_loss_mask(kept.toarray(), unknown))
        x = sp.vstack(inputs).tocsr()
        t = np.vstack(targets)
        m = np.vstack(masks).astype(np.float64)
        n, n_labels = t.shape
        alpha = params["alpha"]

        def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[:-n_labels].reshape(n_labels, n_labels)
            z = x @ w + theta[-n_labels:]
            loss = -np.sum(m * (t * log_expit(z) + (1 - t) * log_expit(-z))) / n + 0.5 * alpha * np.sum(w * w)
            g = m * (expit(z) - t) / n
            grad_w = np.asarray(x.T @ g) + alpha * w
            return float(loss), np.concatenate([grad_w.ravel(), g.sum(axis=0)])

        result = minimize(
            loss_and_grad,
            np.zeros(n_labels * n_labels + n_labels),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
        self.coef_ = result.x[:-n_labels].reshape(n_labels, n_labels)
        self.intercept_ = result.x[-n_labels:]
        self.n_iter_ = int(result.nit)

    def _predict_proba(self, positives: sp.csr_matrix) -> np.ndarray:
        return expit(np.asarray(positives @ self.coef_) + self.intercept_)


@ESTIMATORS.register("denoising-mlp")
class DenoisingMLP(_Denoising):
    """A small MLP trained to find deliberately hidden positives, with a fresh corruption of every fitted row
    each epoch (see the module docstring).

    Args:
        drop_ratio: the ratio of observed positives hidden in each corrupted copy (in (0, 1)).
        hidden: width of the hidden layers.
        n_layers: number of hidden layers (0: a multi-output logistic regression).
        epochs: passes over the fitted rows, each with a fresh corruption.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: rows per optimisation step.
        n_models: independently seeded networks whose probabilities are averaged.
        random_state: seed or Generator for the corruption, the shuffling and (through seeds drawn from it)
            the networks' initialisation; the global numpy and torch random states are never touched.
        num_threads: torch intra-op threads during fit and predict (None: leave torch's setting); the
            previous setting is restored afterwards.

    Attributes:
        networks_: the ``n_models`` fitted ``torch.nn.Sequential`` networks, on the CPU, in eval mode (they
            pickle with the estimator).
        loss_curve_: ``(n_models, epochs)`` mean training loss of each epoch.
    """

    _parameter_constraints = {
        "drop_ratio": [DROP_RATIO], "hidden": [POSITIVE_INT], "n_layers": [COUNT], "epochs": [POSITIVE_INT],
        "learning_rate": [POSITIVE_REAL], "weight_decay": [NON_NEGATIVE], "batch_size": [POSITIVE_INT],
        "n_models": [POSITIVE_INT], "random_state": [RandomStateConstraint()], "num_threads": [None, POSITIVE_INT],
    }

    def __init__(
        self,
        drop_ratio: float = 0.3,
        hidden: int = 256,
        n_layers: int = 2,
        epochs: int = 30,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        n_models: int = 1,
        random_state: RandomState = 0,
        num_threads: int | None = None,
    ) -> None:
        self.drop_ratio = drop_ratio
        self.hidden = hidden
        self.n_layers = n_layers
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_models = n_models
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        import torch  # lazily: `import mlml.weights` stays free of torch's ~1 s import

        params = self._checked_params()
        drop, width, n_layers, epochs = params["drop_ratio"], params["hidden"], params["n_layers"], params["epochs"]
        lr, decay, batch_size = params["learning_rate"], params["weight_decay"], params["batch_size"]
        n_models, threads = params["n_models"], params["num_threads"]
        rng = check_random_state(self.random_state)
        # one independent stream per network, so network k is the same whatever n_models is
        seeds = rng.integers(0, 2**63 - 1, size=n_models)

        unknown = indicator(observed, UNKNOWN)
        networks, curves = [], []
        with torch_threads(threads):
            for seed in seeds:
                model_rng = np.random.default_rng(int(seed))
                generator = torch.Generator().manual_seed(int(model_rng.integers(0, 2**63 - 1)))
                network = _network(self.n_labels_, width, n_layers, generator)
                optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=decay)
                curve = [
                    _train_epoch(network, optimizer, observed, unknown, drop, batch_size, model_rng)
                    for _ in range(epochs)
                ]
                networks.append(network.eval())
                curves.append(curve)
        self.networks_ = networks
        self.loss_curve_ = np.asarray(curves)

    def _predict_proba(self, positives: sp.csr_matrix) -> np.ndarray:
        import torch

        out = np.empty(positives.shape)
        chunk = 8192  # bounds the dense float32 input and hidden activations
        with torch_threads(self.num_threads), torch.no_grad():
            for start in range(0, positives.shape[0], chunk):
                x = torch.from_numpy(positives[start : start + chunk].toarray().astype(np.float32))
                p = sum(torch.sigmoid(network(x)).double() for network in self.networks_)
                out[start : start + chunk] = (p / len(self.networks_)).numpy()
        return out


def _network(n_labels: int, width: int, n_layers: int, generator: Any) -> Any:
    """``Linear(L, h) → ReLU → … → Linear(h, L)`` with PyTorch's default initialisation of ``nn.Linear``
    drawn from ``generator`` (the layers are built uninitialised, so the global RNG is not used)."""
    from torch import nn

    layers: list[nn.Module] = []
    n_in = n_labels
    for n_out in [width] * n_layers + [n_labels]:
        layer = nn.utils.skip_init(nn.Linear, n_in, n_out, device="cpu")  # the networks live on the CPU
        # nn.Linear.reset_parameters, with an explicit generator
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(n_in)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        layers += [layer, nn.ReLU()]
        n_in = n_out
    return nn.Sequential(*layers[:-1])


def _train_epoch(
    network: Any,
    optimizer: Any,
    observed: LabelMatrix,
    unknown: sp.csr_matrix,
    drop_ratio: float,
    batch_size: int,
    rng: np.random.Generator,
) -> float:
    """One pass over a fresh corruption of every row, in shuffled batches; returns the mean batch loss."""
    import torch
    import torch.nn.functional as F

    kept, dropped = _corrupt(observed, drop_ratio, rng)
    order = rng.permutation(kept.shape[0])
    kept, dropped, unknown = kept[order], dropped[order], unknown[order]
    network.train()
    losses = []
    for start in range(0, len(order), batch_size):
        rows = slice(start, start + batch_size)
        x = kept[rows].toarray()
        mask = _loss_mask(x, unknown[rows].toarray())
        logits = network(torch.from_numpy(x.astype(np.float32)))
        loss = F.binary_cross_entropy_with_logits(
            logits,
            torch.from_numpy(dropped[rows].toarray().astype(np.float32)),
            weight=torch.from_numpy(mask.astype(np.float32)),
            reduction="sum",
        ) / len(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
