"""The field's 2022-2025 single-positive losses against literal ports of their authors' code (issue 22).

Each ``ref_*`` below is a literal reading, in float64 torch, of the file named in its docstring: the authors'
masks, detached factors, normalisers and schedules, with their ``neg_log(x) = −log(x + ε)`` given ε as a parameter.
Ours is exact where they add ε, so the comparisons run with ε = 0 (as tests/losses/test_losses_reference.py does for
Cole et al.'s) and one test per file measures what their ε changes. Inputs: random logits with ±30 mixed in, an
all-unknown row (weight 0 in ours; the authors have no unknown entries, so the reference's matrix is multiplied by
the known mask, keeping their ``B C`` normaliser) and a label-free column (no positive in the batch).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlml.losses import LOSSES
from mlml.losses import functional as LF
from mlml.losses.modules import EMAPL, GPRLoss, GRLoss, LargeLossPermanent
from mlml.methods import METHODS

F64 = torch.float64
TOL = 1e-6


def inputs(seed: int, n: int = 7, c: int = 5):
    """Logits (±30 mixed in), single-positive targets with one label-free column, and the known mask (row 0 all
    unknown)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=F64) * 3.0
    z[1, 0], z[2, 1], z[3, 3], z[4, 2] = 30.0, -30.0, 30.0, -30.0
    y = torch.zeros(n, c, dtype=F64)
    cols = torch.randint(0, c - 1, (n,), generator=g)  # the last column never gets a positive
    y[torch.arange(n), cols] = 1.0
    y[1, 0] = 1.0  # a confident positive, z = 30
    y[2, 1] = 1.0  # a hopeless positive, z = −30
    known = torch.ones(n, c, dtype=F64)
    known[0] = 0.0
    y[0] = 0.0
    return z, y, known


def neg_log(x, eps):
    return -torch.log(x + eps)


def complement(logits):
    """``1 − preds`` of the authors' formulas, evaluated as σ(−z): the same number, without float64's cancellation
    at z = 30 (``1 − σ(30)`` keeps 3 digits there, which alone moves a ``−log(1 − p)`` term by 1e-3)."""
    return torch.sigmoid(-logits)


def assert_agrees(ours, ref, z):
    """Value and gradient (with respect to the logits) within ``TOL``."""
    a = z.detach().clone().requires_grad_(True)
    b = z.detach().clone().requires_grad_(True)
    va, vb = ours(a), ref(b)
    (ga,), (gb,) = torch.autograd.grad(va, a), torch.autograd.grad(vb, b)
    torch.testing.assert_close(va.detach(), vb.detach(), rtol=0.0, atol=TOL)
    torch.testing.assert_close(ga, gb, rtol=0.0, atol=TOL)
    assert torch.isfinite(ga).all()


SEEDS = [0, 1, 2]


# ------------------------------------------------------------------------------------------------------------
# Zhou et al., ECCV 2022: Correr-Zhou/SPML-AckTheUnknown, losses.py loss_EM, loss_EM_APL, compute_batch_loss
# ------------------------------------------------------------------------------------------------------------


def ref_em_apl(logits, observed_labels, known, alpha, beta, eps=0.0):
    """``loss_EM_APL`` (``loss_EM`` where no entry is negative) with ``compute_batch_loss``'s ``B C`` normaliser:
    1 -> −log p; 0 -> −α(p(−log p) + (1 − p)(−log(1 − p)));
    −s (a pseudo-label) -> β(s(−log p) + (1 − s)(−log(1 − p)))."""
    preds = torch.sigmoid(logits)
    loss_mtx = torch.zeros_like(preds)
    pos, unl, pl = observed_labels == 1, observed_labels == 0, observed_labels < 0
    loss_mtx[pos] = neg_log(preds[pos], eps)
    loss_mtx[unl] = -alpha * (preds[unl] * neg_log(preds[unl], eps)
                              + (1 - preds[unl]) * neg_log(complement(logits)[unl], eps))
    soft_label = -observed_labels[pl]
    loss_mtx[pl] = beta * (soft_label * neg_log(preds[pl], eps)
                           + (1 - soft_label) * neg_log(complement(logits)[pl], eps))
    loss_mtx = loss_mtx * known
    batch_size, num_classes = preds.shape
    return (loss_mtx / (num_classes * batch_size)).sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_em_is_the_authors(seed):
    z, y, known = inputs(seed)
    crit = LOSSES.create("em").double()
    assert_agrees(lambda t: crit(t, y, known=known.bool()), lambda t: ref_em_apl(t, y, known, 0.1, 0.9), z)


@pytest.mark.parametrize("seed", SEEDS)
def test_em_apl_is_the_authors_with_pseudo_labels(seed):
    z, y, known = inputs(seed)
    g = torch.Generator().manual_seed(seed + 10)
    picked = (torch.rand(y.shape, generator=g) < 0.4) & (y == 0)
    soft = torch.rand(y.shape, generator=g, dtype=F64) * 0.2
    observed = torch.where(picked, -soft, y)  # the authors' encoding of a soft pseudo-label s: −s
    ours = lambda t: LF.entropy_maximization(t, y, known, alpha=0.2, beta=0.4, pseudo_mask=picked,  # noqa: E731
                                             pseudo_targets=soft)
    assert_agrees(ours, lambda t: ref_em_apl(t, observed, known, 0.2, 0.4), z)


def test_em_differs_from_the_authors_only_by_their_log_epsilon():
    z, y, known = inputs(0)
    z = z.clamp(-3, 3)
    ours = LOSSES.create("em").double()(z, y, known=known.bool())
    theirs = ref_em_apl(z, y, known, 0.1, 0.9, eps=1e-5)
    assert 0 < abs(float(ours - theirs)) < 1e-4


def ref_apl(preds_per_epoch, observed, warmup_epoch, num_epochs, neg_proportion):
    """``main.py`` ``aysmmetric_pseudo_labeling`` after each 1-based epoch ≥ ``warmup_epoch``: per class, the
    ``int(ρ unlabel_num / (T − warmup))`` lowest-scored entries still 0 get ``−p``."""
    obs = observed.astype(np.float64).copy()
    unlabel_num = [np.sum(observed[:, i] == 0) for i in range(observed.shape[1])]
    for epoch, total_preds in enumerate(preds_per_epoch, start=1):
        if epoch < warmup_epoch:
            continue
        total_idx = np.arange(obs.shape[0])
        for i in range(total_preds.shape[1]):
            class_preds = total_preds[:, i]
            class_labels_obs = obs[:, i][total_idx]
            unlabel_class_preds = class_preds[class_labels_obs == 0]
            unlabel_class_idx = total_idx[class_labels_obs == 0]
            neg_pl_num = int(neg_proportion * unlabel_num[i] / (num_epochs - warmup_epoch))
            sorted_idx_loc = np.argsort(unlabel_class_preds, kind="stable")
            for loc in sorted_idx_loc[:neg_pl_num]:
                obs[unlabel_class_idx[loc], i] = -unlabel_class_preds[loc]
    return obs


def test_em_apl_schedule_is_the_authors():
    rng = np.random.default_rng(0)
    n, c, epochs = 40, 4, 6
    observed = np.zeros((n, c), dtype=np.int8)
    observed[np.arange(n), rng.integers(0, c - 1, n)] = 1  # the last class has no positive
    crit = EMAPL(warmup_epochs=2, num_epochs=epochs, neg_proportion=0.9)
    crit.setup(observed)
    logits_per_epoch = [torch.as_tensor(rng.normal(size=(n, c)), dtype=torch.float32) for _ in range(epochs)]
    y = torch.as_tensor(observed == 1, dtype=torch.float32)
    for epoch, logits in enumerate(logits_per_epoch):
        crit.start_epoch(epoch)
        for rows in np.array_split(rng.permutation(n), 3):  # batches in any order
            r = torch.as_tensor(rows)
            crit(logits[r], y[r], index=r, suspect=(y[r] == 0))
    crit.start_epoch(epochs)  # the labelling after the last epoch (nothing trains on it)
    preds = [torch.sigmoid(t).numpy() for t in logits_per_epoch]
    theirs = ref_apl(preds, observed, warmup_epoch=2, num_epochs=epochs, neg_proportion=0.9)
    pseudo = crit.pseudo_.numpy()
    np.testing.assert_array_equal(pseudo, theirs < 0)
    np.testing.assert_allclose(crit.soft_.numpy()[pseudo], -theirs[pseudo], rtol=0, atol=1e-7)
    assert pseudo[:, c - 1].sum() == min(n, int(0.9 * n / (epochs - 2)) * (epochs - 2 + 1))  # the label-free class


def test_em_apl_state_survives_a_checkpoint():
    observed = np.zeros((6, 3), dtype=np.int8)
    observed[:, 0] = 1
    crit = EMAPL(warmup_epochs=1, num_epochs=3)
    crit.setup(observed)
    crit(torch.randn(6, 3), torch.as_tensor(observed, dtype=torch.float32), index=torch.arange(6))
    crit.start_epoch(1)
    again = EMAPL(warmup_epochs=1, num_epochs=3)
    again.setup(observed)
    again.load_state_dict(crit.state_dict())
    assert torch.equal(again.pseudo_, crit.pseudo_) and bool(crit.pseudo_.any())


# ------------------------------------------------------------------------------------------------------------
# Kim et al., CVPR 2022: snucml/LargeLossMatters, losses.py compute_batch_loss (LL-Cp), train.py
# ------------------------------------------------------------------------------------------------------------


def ref_ll_cp_batch(preds, label_vec, clean_rate, delta_rel, known):
    """``compute_batch_loss`` with ``mod_scheme = 'LL-Cp'`` ("preds" are logits); returns the loss and the
    entries ``train.py`` then writes as 1 into ``label_matrix_obs`` (``correction_idx``)."""
    batch_size, num_classes = preds.shape
    unobserved_mask = (label_vec == 0) & (known > 0)  # an unknown entry of ours is never a candidate
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss_matrix = bce(preds, label_vec.clip(0), reduction="none")
    corrected_loss_matrix = bce(preds, torch.logical_not(label_vec).to(preds.dtype), reduction="none")
    correction = torch.zeros_like(label_vec, dtype=torch.bool)
    if clean_rate == 1:
        final_loss_matrix = loss_matrix
    else:
        k = math.ceil(batch_size * num_classes * delta_rel)
        unobserved_loss = unobserved_mask.bool() * loss_matrix
        topk_lossvalue = torch.topk(unobserved_loss.flatten(), k).values[-1]
        correction = unobserved_loss > topk_lossvalue
        final_loss_matrix = torch.where(unobserved_loss < topk_lossvalue, loss_matrix, corrected_loss_matrix)
    return (final_loss_matrix * known).mean(), correction


@pytest.mark.parametrize("seed", SEEDS)
def test_ll_cp_is_the_authors_over_three_epochs(seed):
    n, c = 12, 5
    g = torch.Generator().manual_seed(seed)
    label_matrix = torch.zeros(n, c, dtype=F64)
    label_matrix[torch.arange(n), torch.randint(0, c - 1, (n,), generator=g)] = 1.0
    known = torch.ones(n, c, dtype=F64)
    known[0] = 0.0
    label_matrix[0] = 0.0
    ours = LargeLossPermanent(delta_rel=0.125).double()
    ours.setup(label_matrix.numpy().astype(np.int8))
    theirs = label_matrix.clone()
    clean_rate = 1.0
    for epoch in range(3):
        ours.start_epoch(epoch)
        for rows in (torch.arange(0, 6), torch.arange(6, 12)):
            z = torch.randn(6, c, generator=g, dtype=F64) * 3.0
            z[1, 2], z[3, 4] = 30.0, -30.0
            y = label_matrix[rows]
            a = z.clone().requires_grad_(True)
            b = z.clone().requires_grad_(True)
            value = ours(a, y, known=known[rows].bool(), index=rows, suspect=(y == 0) & (known[rows] > 0))
            ref, correction = ref_ll_cp_batch(b, theirs[rows], clean_rate, 0.125, known[rows])
            torch.testing.assert_close(value, ref, rtol=0.0, atol=TOL)
            torch.testing.assert_close(torch.autograd.grad(value, a)[0], torch.autograd.grad(ref, b)[0],
                                       rtol=0.0, atol=TOL)
            block = theirs[rows]
            block[correction] = 1.0  # train.py: dataset[phase].label_matrix_obs[idx[...], ...] = 1.0
            theirs[rows] = block
        clean_rate -= 0.125
    assert torch.equal(ours.corrected_, (theirs == 1) & (label_matrix == 0))
    assert ours.corrected_.any()


# ------------------------------------------------------------------------------------------------------------
# Chen et al., IJCAI 2024: yan4xi1/GRLoss, losses.py GR_loss, models.py KFunction/VFunction, train.py (schedule)
# ------------------------------------------------------------------------------------------------------------


def ref_schedule(epoch, num_epochs, beta, alpha, n=0):
    """``train.py``'s per-epoch ``w, b, mu, sigma`` (1-based ``epoch``, ``linear_init = n``)."""
    w_0, w_max, b_0, b_max = beta
    w = w_0 + (w_max - w_0) * max((epoch - n - 1), 0) / (num_epochs - n)
    b = b_0 + (b_max - b_0) * max((epoch - n - 1), 0) / (num_epochs - n)
    mu_0, sigma_0, mu_max, sigma_max = alpha
    mu = mu_0 + (mu_max - mu_0) * max((epoch - n), 0) / (num_epochs - n)
    sigma = sigma_0 + (sigma_max - sigma_0) * max((epoch - n), 0) / (num_epochs - n)
    return w, b, mu, sigma


def ref_loss1(x, q):
    return (1 - torch.pow(x, q)) / q


def ref_loss2(x, q):
    return (1 - torch.pow(1 - x, q)) / q


def ref_gr(logits, label_vec, known, w, b, mu, sigma, q, eps=0.0):
    """``GR_loss(preds, label_vec, K, V, Q)`` with ``K = KFunction(w, b)(preds.detach())`` and
    ``V = VFunction(preds.detach(), mu, sigma)``; the mean over ``B C``."""
    preds = torch.sigmoid(logits)
    p1 = preds.detach()
    K = 1 / (1 + torch.exp(-(w * p1 + b)))
    V = torch.exp(-0.5 * ((p1 - mu) / sigma) ** 2)
    q2, q3 = q
    loss_mtx = torch.zeros_like(preds)
    pos, neg = label_vec == 1, label_vec == 0
    loss_mtx[pos] = neg_log(preds[pos], eps)
    loss_mtx[neg] = V[neg] * (K[neg] * ref_loss1(preds[neg], q2) + (1 - K[neg]) * ref_loss2(preds[neg], q3))
    return (loss_mtx * known).mean()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("epoch", [0, 3, 7, 12])
def test_gr_is_the_authors_at_every_epoch_of_the_schedule(seed, epoch):
    z, y, known = inputs(seed)
    crit = GRLoss().double()
    crit.start_epoch(epoch)
    w, b, mu, sigma = ref_schedule(min(epoch + 1, 8), 8, [0, 2, -2, -2], [0.5, 2, 0.8, 0.5])
    assert_agrees(lambda t: crit(t, y, known=known.bool()),
                  lambda t: ref_gr(t, y, known, w, b, mu, sigma, (0.01, 1)), z)


def test_gr_other_parameters_and_its_log_epsilon():
    z, y, known = inputs(4)
    crit = GRLoss(k_weight=(1.0, 3.0), k_bias=(0.5, -1.0), v_mean=(0.2, 0.6), v_std=(1.0, 0.3), q2=0.3, q3=0.7,
                  num_epochs=5).double()
    crit.start_epoch(2)
    w, b, mu, sigma = ref_schedule(3, 5, [1, 3, 0.5, -1], [0.2, 1.0, 0.6, 0.3])
    assert_agrees(lambda t: crit(t, y, known=known.bool()),
                  lambda t: ref_gr(t, y, known, w, b, mu, sigma, (0.3, 0.7)), z)
    z = z.clamp(-3, 3)
    gap = crit(z, y, known=known.bool()) - ref_gr(z, y, known, w, b, mu, sigma, (0.3, 0.7), eps=1e-7)
    assert 0 < abs(float(gap)) < 1e-5


# ------------------------------------------------------------------------------------------------------------
# Tran et al., ICCV 2025 (AEVLP): Fsoft-AIC/AEVLP, losses.py GPR_loss, expected_positive_regularizer; train.py
# ------------------------------------------------------------------------------------------------------------


def ref_gpr(logits, pseudo_labels, label_vec, known, w, b, mu, sigma, q, P, eps=0.0):
    """``GPR_loss`` with ``use_pl`` (K, V from the detached predictions, as ``train.py`` builds them)."""
    preds = torch.sigmoid(logits)
    p1 = preds.detach()
    K = 1 / (1 + torch.exp(-(w * p1 + b)))
    V = torch.exp(-0.5 * ((p1 - mu) / sigma) ** 2)
    q2, q3 = q
    loss_mtx = torch.zeros_like(preds)
    final_labels = torch.where(label_vec == 0, pseudo_labels, label_vec)
    pos, neg = label_vec == 1, final_labels == 0
    loss_mtx[pos] = neg_log(preds[pos], eps)
    loss_mtx[neg] = V[neg] * (K[neg] * ref_loss1(preds[neg], q2) + (1 - K[neg]) * ref_loss2(preds[neg], q3))
    mask_pos = (label_vec == 0) & (pseudo_labels == 1)
    V[mask_pos] = torch.where(V[mask_pos] > 1 - P["lam_1"], V[mask_pos], 1 - P["lam_1"])
    V[mask_pos] = torch.where(V[mask_pos] < 1 - P["lam_2"], V[mask_pos], 1 - P["lam_2"])
    loss_mtx[mask_pos] = (1 - V[mask_pos]) * (P["rho"] * neg_log(preds[mask_pos], eps)
                                              + (1 - P["rho"]) * neg_log(complement(logits)[mask_pos], eps))
    negative = final_labels == -1  # never true in their code (get_pseudo_labels writes 0): kept as written
    loss_mtx[negative] = V[negative] * neg_log(complement(logits)[negative], eps)
    reg = (preds.sum(1).mean(0) - P["expected_num_pos"]) ** 2 / (P["num_classes"] ** 2)
    return (loss_mtx * known).mean() + P["reg"] * reg


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("epoch", [0, 4, 7])
def test_gpr_with_hard_pseudo_labels_is_the_authors(seed, epoch):
    z, y, known = inputs(seed)
    g = torch.Generator().manual_seed(seed + 20)
    pseudo = ((torch.rand(y.shape, generator=g) < 0.3) & (y == 0)).to(F64)
    crit = GPRLoss(expected_positives=2.9).double()
    crit.start_epoch(epoch)
    w, b, mu, sigma = ref_schedule(epoch + 1, 8, [0, 10, -2, -8], [0.5, 2, 0.8, 0.5])
    P = {"lam_1": 0.7, "lam_2": 0.5, "rho": 0.9, "reg": 0.001, "expected_num_pos": 2.9, "num_classes": y.shape[1]}
    # hard pseudo-labels as weights: (ω, ω̄) = (1, 0) on a pseudo-positive, (0, 1) on another zero; 0 if unknown
    omega = torch.where(y == 1, 1.0, pseudo) * known
    omega_bar = torch.where(y == 1, 0.0, 1.0 - pseudo) * known
    assert_agrees(lambda t: crit(t, y, (omega, omega_bar), suspect=(y == 0) & (known > 0)),
                  lambda t: ref_gpr(t, pseudo, y, known, w, b, mu, sigma, (0.01, 1), P), z)


def test_gpr_soft_pseudo_labels_mix_the_two_terms_and_no_pseudo_labels_is_gr_plus_epr():
    z, y, known = inputs(5)
    q = torch.rand(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64) * (y == 0)
    as_pos = LF.gpr_loss(z, y, (torch.ones_like(y), torch.zeros_like(y)), reduction="none", expected_positives=1.5,
                         reg=0.0, k_weight=0.0)
    as_neg = LF.gpr_loss(z, y, (y, torch.ones_like(y)), reduction="none", expected_positives=1.5, reg=0.0,
                         k_weight=0.0)
    soft = LF.gpr_loss(z, y, (torch.where(y == 1, 1.0, q), 1.0 - q), reduction="none", expected_positives=1.5,
                       reg=0.0, k_weight=0.0)
    zeros = y == 0
    torch.testing.assert_close(soft[zeros], (q * as_pos + (1 - q) * as_neg)[zeros], rtol=0, atol=1e-12)
    # no pair (a combined weight or None): GR loss + reg R_k
    gr = LF.gr_loss(z, y, known, k_weight=0.0)
    penalty = LF.expected_positive_penalty(torch.sigmoid(z), 1.5)
    torch.testing.assert_close(LF.gpr_loss(z, y, known, expected_positives=1.5, reg=0.3, k_weight=0.0),
                               gr + 0.3 * penalty, rtol=0, atol=1e-12)


def test_the_new_methods_are_registered_with_their_losses():
    expected = {"em": "em", "em-apl": "em-apl", "ll-cp": "ll-cp", "gr": "gr", "gpr-knn-pu": "gpr", "gpr-pu": "gpr"}
    for name, loss in expected.items():
        assert METHODS.get(name).loss == loss
    assert METHODS.get("gpr-knn-pu").estimator_kwargs["pseudo_positive"] == 1.0
