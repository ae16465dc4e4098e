"""A full-batch quasi-Newton solver for frozen linear heads (``TrainConfig(solver="lbfgs")``).

Where the head is linear (``logits = standardise(x) W^T + b``) and the loss, given the estimator's per-entry
weights, is a weighted cross-entropy -- convex in the logits, hence in ``(W, b)`` --, the problem is what liblinear
solves for logistic regression, one label per column::

    min_{W, b}  loss(X W^T + b; targets, weights)  +  weight_decay / 2 * ||W||_F^2

with ``loss``'s ``"mean"`` reduction (the sum over the training entries divided by ``n_rows * n_labels``) and the
bias not penalised. :class:`LBFGSSolver` minimises it with :class:`torch.optim.LBFGS` (strong Wolfe line search)
over the whole training matrix at once -- a dense tensor standardised once, or, for a sparse enough CSR matrix, a
sparse one with the standardisation folded into the weights (``((x - m) / s) W^T = x (W / s)^T - (m / s) W^T``) --
instead of AdamW steps over minibatches.

One solver *round* stands for an epoch of the loop: ``lbfgs_steps`` L-BFGS iterations (fewer where the gradient's
largest entry falls below :data:`GRAD_TOL` or the step stops changing the objective), after which the validation
rows are scored and the best round kept, as early stopping keeps the best epoch. With fixed weights the rounds
continue one L-BFGS run (its curvature memory kept) until it converges, then the run ends; with an adaptive
estimator each round is an M-step: after it the estimator is updated from the model's probabilities of the
training rows (its E-step, as after an epoch) and the next round starts a new L-BFGS run on the new weights.

Which methods qualify: those whose loss is one of :data:`CONVEX_LOSSES` (weighted BCE, label smoothing, WAN, the
soft pseudo-label BCEs, the propensity-weighted BCE) with the ``linear`` head in frozen mode; others are refused
by :func:`check_lbfgs`, naming the parameter.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from mlml.exceptions import MLMLError

#: Losses that are convex in the logits for fixed non-negative per-entry weights (sums of weighted softplus terms
#: of the logits): the methods built on them qualify for ``solver="lbfgs"``. Not here: the focal/asymmetric losses
#: (focusing makes them non-convex), the large-loss rejections and EPR/ROLE/EM/GR/CSL (their terms depend on the
#: model's own predictions or on parameters of their own), ``unbiased-bce`` (negative weights: unbounded below).
CONVEX_LOSSES: tuple[str, ...] = ("weighted-bce", "an-ls", "wan", "partial-bce", "soft-bce", "weak-soft-bce",
                                  "pw-bce")

#: An L-BFGS run stops when the largest entry of the objective's gradient is below this
#: (``torch.optim.LBFGS``'s ``tolerance_grad``) or when a step changes the objective by less than ``CHANGE_TOL``.
GRAD_TOL = 1e-5
CHANGE_TOL = 1e-9

#: A CSR training matrix with at most this share of non-zero entries is multiplied as a sparse tensor (e.g. MULAN
#: medical's bag of words, 0.9 %: about 3 x faster per evaluation than dense on one core); denser ones as dense
#: (enron's, 8 %, is slower sparse).
SPARSE_DENSITY = 0.02


#: The training set-up of the recommended method's default path on a sparse matrix of at most
#: :data:`SPARSE_DENSITY` non-zero entries (:func:`sparse_setup`): the linear head with this solver, and rounds
#: stopped after 3 without a better validation score (the minibatch loop's 10 epochs of patience are 10 L-BFGS runs
#: here). Chosen on development folds (MULAN medical and enron, seed 1; benchmarks/README.md, "The default fit on
#: sparse text", issue 20 third round): micro-F1 +0.07 and +0.10 against the MLP head on medical, and the same
#: decisions with patience 3 as with 10 in all 16 folds.
SPARSE_SETUP: dict[str, Any] = {"head": "linear", "solver": "lbfgs", "patience": 3}


def sparse_enough(inputs: Any) -> bool:
    """Whether ``inputs`` is a sparse matrix of at most :data:`SPARSE_DENSITY` non-zero entries: what the solver
    multiplies sparse, and what :func:`sparse_setup` gives the default path's set-up for."""
    return sp.issparse(inputs) and inputs.nnz <= SPARSE_DENSITY * inputs.shape[0] * inputs.shape[1]


def sparse_setup(inputs: Any) -> dict[str, Any]:
    """:data:`SPARSE_SETUP` for a CSR matrix of at most :data:`SPARSE_DENSITY` non-zero entries (a bag of words:
    what liblinear-style linear models are made for, and where the solver multiplies sparse), else nothing."""
    return dict(SPARSE_SETUP) if sparse_enough(inputs) else {}


def check_lbfgs(config: Any, method: Any, distributed: bool = False) -> None:
    """Refuse ``solver="lbfgs"`` where its objective is not the convex one it solves (one line naming the
    parameter)."""
    config.check_solver()  # the head and the mode (its fields may have been set after construction)
    if method.loss not in CONVEX_LOSSES:
        raise MLMLError(f"The 'solver' parameter of TrainConfig is 'lbfgs', but the method {method.name!r} trains "
                        f"the loss {method.loss!r}, which is not a convex weighted cross-entropy; lbfgs takes the "
                        f"losses {', '.join(CONVEX_LOSSES)}. Use solver='minibatch' for this method.")
    if distributed:
        raise MLMLError("The 'solver' parameter of TrainConfig is 'lbfgs', which runs in one process: "
                        "launch without torchrun or use solver='minibatch'.")


def _csr_tensor(csr: sp.csr_matrix) -> Tensor:
    """A sorted float32 CSR matrix as a torch CSR tensor."""
    csr = sp.csr_matrix(csr, dtype=np.float32)
    csr.sort_indices()
    with warnings.catch_warnings():  # torch's notice that CSR tensors are "in beta" is not the user's
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(csr.indptr.astype(np.int64)),
                                       torch.from_numpy(csr.indices.astype(np.int64)),
                                       torch.from_numpy(csr.data), csr.shape, check_invariants=True)


def _sparse_operand(csr: sp.csr_matrix, device: torch.device) -> Any:
    """The constant sparse factor of :class:`_SparseProduct` on ``device``: on the CPU scipy's CSR matrix itself,
    whose product with a dense matrix ran 2-3.5x faster than torch's CSR tensor's on one thread (a 67,000 x 5,000
    matrix of 3.6 million entries times 1,000 columns: 1.6 s against 5.4 s, its transpose's 2.6 s against 3.4 s;
    the same sums up to float32 rounding); elsewhere a torch CSR tensor."""
    return csr if device.type == "cpu" else _csr_tensor(csr).to(device)


def _times(matrix: Any, dense: Tensor) -> Tensor:
    """``matrix @ dense`` for a sparse factor made by :func:`_sparse_operand`."""
    if sp.issparse(matrix):
        return torch.from_numpy(np.ascontiguousarray(matrix @ dense.detach().numpy()))
    return matrix @ dense


class _SparseProduct(torch.autograd.Function):
    """``x @ dense`` for a constant sparse ``x``, its gradient ``xᵀ @ grad`` from a CSR copy of ``xᵀ`` made once:
    torch's own backward of a CSR product transposes ``x`` at every call (medical: 1.7 ms against 0.4 ms an
    evaluation, the same gradient)."""

    @staticmethod
    def forward(ctx: Any, dense: Tensor, x: Any, xt: Any) -> Tensor:
        ctx.xt = xt
        return _times(x, dense)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        return _times(ctx.xt, grad), None, None


class LBFGSSolver:
    """The rounds of the full-batch solver over one run's training rows (see the module docstring).

    Args:
        model: the frozen-mode model (standardisation fitted, ``linear`` head), on ``device``.
        criterion: the method's loss, set up.
        train_set: the run's :class:`~mlml.training.data.TrainingSet` (features, labels, weight source).
        config: ``weight_decay`` (the L2 coefficient), ``lbfgs_steps`` (iterations per round).
        adaptive: whether the weights change between rounds (a new L-BFGS run each round).
        device: where the training matrix and the model are.
        inputs: the training features as ``fit`` received them (a sparse matrix is kept sparse where it is
            sparse enough, even where the loop densified it for its batches).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, train_set: Any, config: Any, adaptive: bool,
                 device: torch.device, inputs: Any = None) -> None:
        self.model, self.criterion, self.train_set = model, criterion, train_set
        self.config, self.adaptive, self.device = config, adaptive, device
        self.linear: nn.Linear = model.head.net
        self.params = [self.linear.weight, self.linear.bias]
        self.rows = torch.arange(len(train_set))
        labels = train_set.observed
        labels = torch.from_numpy(labels.toarray()) if sp.issparse(labels) else labels
        self.targets, self.known, self.suspect = ((labels == 1).float().to(device), (labels != -1).to(device),
                                                  (labels == 0).to(device))
        self.index = self.rows.to(device)
        self.xt: Any = None  # the sparse matrix's transpose, where it is multiplied sparse
        self.x, self.sparse = self._matrix(inputs if sp.issparse(inputs) else train_set.inputs)
        self.weights: Any = None
        self.optimizer: torch.optim.LBFGS | None = None
        self.converged = False
        self.use_amp = False  # what the loop's prediction reads of an optimisation: float32 throughout

    # -- the training matrix
    def _matrix(self, inputs: Any) -> tuple[Any, bool]:
        """The whole training matrix, standardised once: dense (the loop's tensor, or a memory-mapped matrix read
        whole: the solver needs every row at each step), or, for a CSR matrix of at most
        :data:`SPARSE_DENSITY` non-zero entries, a sparse CSR tensor whose standardisation is folded into the
        weights (:meth:`logits`)."""
        if sparse_enough(inputs):
            csr = sp.csr_matrix(inputs, dtype=np.float32)
            csr.sort_indices()
            self.xt = _sparse_operand(csr.T.tocsr(), self.device)  # for the gradient (_SparseProduct)
            return _sparse_operand(csr, self.device), True
        from mlml.training.model import rows_tensor

        dense = inputs if isinstance(inputs, Tensor) else rows_tensor(inputs)
        with torch.no_grad():
            return self.model.standardize(dense.to(self.device)), False

    def logits(self) -> Tensor:
        """The model's logits of every training row (with the graph to ``W`` and ``b``)."""
        weight, bias = self.linear.weight, self.linear.bias
        if not self.sparse:
            return self.linear(self.x)
        standardize = self.model.standardize
        if isinstance(standardize, nn.Identity):
            return _SparseProduct.apply(weight.t(), self.x, self.xt) + bias
        scaled = weight / standardize.scale  # (n_labels, n_features): W / s
        return _SparseProduct.apply(scaled.t(), self.x, self.xt) + (bias - scaled @ standardize.mean)

    def objective(self) -> Tensor:
        """The loss of every training row with the current weights, plus ``weight_decay / 2 * ||W||^2``."""
        loss = self.criterion(self.logits(), self.targets, self.weights, index=self.index, known=self.known,
                              suspect=self.suspect)
        return loss + 0.5 * self.config.weight_decay * self.linear.weight.pow(2).sum()

    # -- one round
    def _new_optimizer(self) -> torch.optim.LBFGS:
        return torch.optim.LBFGS(self.params, lr=1.0, max_iter=self.config.lbfgs_steps,
                                 history_size=10, line_search_fn="strong_wolfe", tolerance_grad=GRAD_TOL,
                                 tolerance_change=CHANGE_TOL)

    def round(self, epoch: int, epoch_proba: Tensor | None) -> float:
        """Up to ``lbfgs_steps`` L-BFGS iterations on the current weights; returns the objective at the round's
        end. With ``epoch_proba`` (adaptive estimators) the training rows' probabilities are written there."""
        if self.weights is None or self.adaptive:  # (re)read the weights: after an E-step they changed
            weights = self.train_set.weights.batch(self.rows)
            self.weights = (tuple(w.to(self.device) for w in weights) if isinstance(weights, tuple)
                            else weights.to(self.device))
            self.optimizer = self._new_optimizer()
        optimizer = self.optimizer
        self.criterion.start_epoch(epoch)
        self.model.train()

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            value = self.objective()
            value.backward()
            return value

        before = optimizer.state[optimizer._params[0]].get("n_iter", 0)
        optimizer.step(closure)
        done = optimizer.state[optimizer._params[0]].get("n_iter", 0) - before
        self.converged = done < self.config.lbfgs_steps  # L-BFGS stopped on a tolerance before its budget
        with torch.no_grad():
            logits = self.logits()
            value = self.criterion(logits, self.targets, self.weights, index=self.index, known=self.known,
                                   suspect=self.suspect)
            value = value + 0.5 * self.config.weight_decay * self.linear.weight.pow(2).sum()
            if epoch_proba is not None:
                epoch_proba.copy_(torch.sigmoid(logits))
        return float(value)

    @property
    def finished(self) -> bool:
        """Whether the run may end: converged on fixed weights (an adaptive run converges round by round)."""
        return self.converged and not self.adaptive

    # -- what the loop's history and checkpoints read of an optimisation
    @property
    def lr(self) -> float:
        """1: the strong Wolfe line search scales each step."""
        return 1.0

    def state_dict(self) -> dict[str, Any]:
        """Nothing beyond the model: a resumed run starts a new L-BFGS run from the checkpointed weights (its
        curvature memory is rebuilt within a few iterations)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights, self.optimizer = None, None
