"""Every registered loss against its authors' published code, value and gradient, at default parameters.

Each ``ref_*`` function below is a literal reading of the authors' formula, written here in float64 torch from
the file named in its docstring (read, not copied: the authors' own semantics -- clamps, epsilons, detached
factors, reductions -- are kept so that the comparison is with what they trained). Ours is compared with it on
fixed inputs that include extreme logits (±10) and both targets; where we differ on purpose (the reduction's
normaliser, numerically stable forms, an epsilon inside a log) the relationship is tested instead, and
docs/losses.md lists it. A few values computed once from the references are hard-coded (with their source), so
a test fails if ours and the reference drift together.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlml.losses import LOSSES
from mlml.losses import functional as LF
from mlml.losses.functional import soft_asl, soft_bce
from mlml.losses.modules import LargeLossCorrection, LargeLossRejection

F64 = torch.float64

# Fixed inputs: logits from -10 to 10, observed positives at ±10, observed zeros above SPLC's τ = 0.6
# (σ(z) > 0.6 for z > 0.405) and at the extremes.
Z = torch.tensor(
    [
        [-10.0, -3.0, -1.0, -0.2, 0.3, 10.0],
        [10.0, 2.0, 0.7, 0.0, -0.5, -10.0],
        [1.0, 1.5, -2.0, 4.0, -4.0, 0.05],
        [-1.2, 0.6, 2.5, -0.8, 3.0, -6.0],
    ],
    dtype=F64,
)
Y = torch.tensor(
    [
        [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        [0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
    ],
    dtype=F64,
)
N_ENTRIES = Z.numel()


def value_and_grad(fn, *tensors):
    """``fn(*leaves)`` and its gradients with respect to every argument (fresh float64 leaves)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    grads = torch.autograd.grad(value, leaves)
    return value.detach(), [g.detach() for g in grads]


def assert_agrees(ours, ref, *tensors, value_tol=1e-12, grad_tol=1e-12, scale=1.0):
    """``ours(*t) * scale == ref(*t)`` in value and in every gradient, to absolute tolerances."""
    v_ours, g_ours = value_and_grad(ours, *tensors)
    v_ref, g_ref = value_and_grad(ref, *tensors)
    torch.testing.assert_close(v_ours * scale, v_ref, rtol=0.0, atol=value_tol)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a * scale, b, rtol=0.0, atol=grad_tol)


# ------------------------------------------------------------------------------------------------------------
# Ibrahim et al., ICMR 2020: KarimMibrahim/Sample-level-weighted-loss, IM-WCE-MSCOCO.ipynb, weighted_loss
# ------------------------------------------------------------------------------------------------------------


def ref_ibrahim_weighted_loss(logits, y, pos_w, neg_w):
    """TF1 code: probabilities clipped to [1e-7, 1 - 1e-7], ``-y log p ω - (1-y) log(1-p) ω̄``, reduce_mean."""
    p = torch.clamp(torch.sigmoid(logits), 1e-7, 1 - 1e-7)
    loss = -y * torch.log(p) * pos_w - (1.0 - y) * torch.log(1.0 - p) * neg_w
    return loss.mean()


def _weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(Z.shape, generator=g, dtype=F64) + 0.2, torch.rand(Z.shape, generator=g, dtype=F64)


def test_weighted_bce_is_ibrahims_weighted_loss():
    pos, neg = _weights()
    assert_agrees(lambda z: LOSSES.create("weighted-bce")(z, Y, (pos, neg)),
                  lambda z: ref_ibrahim_weighted_loss(z, Y, pos, neg), Z)
    # hard-coded from ref_ibrahim_weighted_loss(Z, Y, 1, 1) (Sample-level-weighted-loss, weighted_loss)
    ones = torch.ones_like(Z)
    assert LF.weighted_bce(Z, Y).item() == pytest.approx(ref_ibrahim_weighted_loss(Z, Y, ones, ones).item())
    assert LF.weighted_bce(Z, Y).item() == pytest.approx(IBRAHIM_UNIT_VALUE, abs=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Cole et al., CVPR 2021: elijahcole/single-positive-multi-label, losses.py (loss_an_ls, loss_wan, loss_epr,
# loss_role, compute_batch_loss); the constants from train.py (ls_coef 0.1, expected_num_pos per data set)
# ------------------------------------------------------------------------------------------------------------

COLE_LOG_EPSILON = 1e-5  # losses.py: neg_log(x) = -log(x + LOG_EPSILON)


def _cole_neg_log(x, eps):
    return -torch.log(x + eps)


def _cole_expected_positive_regularizer(preds, k):
    return (preds.sum(1).mean(0) - k) ** 2


def ref_cole(name, logits, observed, *, eps=COLE_LOG_EPSILON, ls_coef=0.1, expected_num_pos=None,
             label_logits=None):
    """``compute_batch_loss``: ``sum(loss_mtx / (B C)) + reg_loss`` for the named loss of losses.py."""
    preds = torch.sigmoid(logits)
    n, c = preds.shape
    pos = observed == 1
    zero = torch.zeros_like(preds)
    reg = None
    if name == "an_ls":
        on_pos = (1.0 - ls_coef) * _cole_neg_log(preds, eps) + ls_coef * _cole_neg_log(1.0 - preds, eps)
        on_zero = (1.0 - ls_coef) * _cole_neg_log(1.0 - preds, eps) + ls_coef * _cole_neg_log(preds, eps)
        loss = torch.where(pos, on_pos, on_zero)
    elif name == "wan":
        loss = torch.where(pos, _cole_neg_log(preds, eps), _cole_neg_log(1.0 - preds, eps) / float(c - 1))
    elif name == "epr":
        loss = torch.where(pos, _cole_neg_log(preds, eps), zero)
        reg = _cole_expected_positive_regularizer(preds, expected_num_pos) / c**2
    elif name == "role":
        est = torch.sigmoid(label_logits)
        est_d, preds_d = est.detach(), preds.detach()
        pos_1 = torch.where(pos, _cole_neg_log(preds, eps), zero)
        cross_1 = est_d * _cole_neg_log(preds, eps) + (1.0 - est_d) * _cole_neg_log(1.0 - preds, eps)
        reg_1 = _cole_expected_positive_regularizer(preds, expected_num_pos) / c**2
        pos_2 = torch.where(pos, _cole_neg_log(est, eps), zero)
        cross_2 = preds_d * _cole_neg_log(est, eps) + (1.0 - preds_d) * _cole_neg_log(1.0 - est, eps)
        reg_2 = _cole_expected_positive_regularizer(est, expected_num_pos) / c**2
        reg = 0.5 * (reg_1 + reg_2)
        loss = 0.5 * (pos_1 + pos_2) + 0.5 * (cross_1 + cross_2)
    else:
        raise ValueError(name)
    main = (loss / (n * c)).sum()
    return main if reg is None else main + reg


THETA = torch.tensor(  # ROLE's label estimates' logits for the rows of Z: logit(0.995) at positives, else small
    [
        [5.29, 0.1, -0.3, 5.29, 0.2, -0.4],
        [5.29, 0.35, -0.1, 0.0, 5.29, 5.29],
        [-0.2, 5.29, 0.4, -0.05, 0.15, 5.29],
        [0.3, -0.35, 5.29, 5.29, 0.25, -0.15],
    ],
    dtype=F64,
)


@pytest.mark.parametrize("name", ["an-ls", "wan"])
def test_an_ls_and_wan_are_coles_without_the_log_epsilon(name):
    key = name.replace("-", "_")
    assert_agrees(lambda z: LOSSES.create(name)(z, Y), lambda z: ref_cole(key, z, Y, eps=0.0), Z,
                  value_tol=1e-12, grad_tol=1e-13)


@pytest.mark.parametrize("k", [1.0, 2.9])  # 2.9: Cole et al.'s expected_num_pos for COCO (train.py)
def test_epr_is_coles_without_the_log_epsilon(k):
    crit = LOSSES.create("epr", expected_positives=k)
    assert_agrees(lambda z: crit(z, Y), lambda z: ref_cole("epr", z, Y, eps=0.0, expected_num_pos=k), Z,
                  value_tol=1e-12, grad_tol=1e-13)


@pytest.mark.parametrize("k", [1.0, 2.9])
def test_role_is_coles_without_the_log_epsilon_value_and_both_gradients(k):
    assert_agrees(
        lambda z, t: LF.role(z, Y, label_logits=t, expected_positives=k),
        lambda z, t: ref_cole("role", z, Y, eps=0.0, expected_num_pos=k, label_logits=t),
        Z, THETA, value_tol=1e-12, grad_tol=1e-13,
    )


@pytest.mark.parametrize("name", ["an_ls", "wan", "epr", "role"])
def test_coles_log_epsilon_is_the_only_difference(name):
    """Known difference, on purpose: losses.py's ``-log(x + 1e-5)``. It moves the values by at most
    ``1e-5 / min(p, 1 - p)`` per term -- under 3e-4 for |z| <= 3 -- and by about 0.2 at a term whose
    probability is σ(-10) = 4.5e-5; ours is the exact log (logsigmoid)."""
    kwargs = {"expected_num_pos": 1.5}
    if name == "role":
        kwargs["label_logits"] = THETA.clamp(-3.0, 3.0)
    moderate = Z.clamp(-3.0, 3.0)
    exact = ref_cole(name, moderate, Y, eps=0.0, **kwargs)
    theirs = ref_cole(name, moderate, Y, **kwargs)
    assert abs(exact - theirs).item() < 3e-4
    # at ±10 the epsilon matters: an observed positive at z = -10 costs 10.00005 exactly, 9.80 with it
    p = torch.sigmoid(torch.tensor(-10.0, dtype=F64))
    assert (-torch.log(p)).item() - (-torch.log(p + COLE_LOG_EPSILON)).item() == pytest.approx(0.1991, abs=1e-4)


def test_cole_hard_coded_values():
    # computed once from ref_cole(..., eps=0.0) on (Z, Y) (single-positive-multi-label, losses.py)
    assert LF.an_ls(Z, Y).item() == pytest.approx(COLE_AN_LS_VALUE, abs=1e-12)
    assert LF.wan(Z, Y).item() == pytest.approx(COLE_WAN_VALUE, abs=1e-12)
    assert LF.epr(Z, Y, expected_positives=2.9).item() == pytest.approx(COLE_EPR_VALUE, abs=1e-12)
    got = LF.role(Z, Y, label_logits=THETA, expected_positives=2.9).item()
    assert got == pytest.approx(COLE_ROLE_VALUE, abs=1e-12)


def test_epr_and_role_default_k_is_the_mean_observed_positives_and_coles_is_a_parameter():
    """Cole et al. pass k as a per-data-set constant (train.py: pascal 1.5, coco 2.9, nuswide 1.9, cub 31.4,
    the fully labelled training sets' mean); ours takes it as ``expected_positives`` or, when None, estimates it
    in setup() from the observed labels (a lower bound when positives are missing)."""
    observed = Y.numpy().astype(np.int8)
    for name in ("epr", "role"):
        estimated = LOSSES.create(name)
        estimated.setup(observed)
        assert estimated.k_ == pytest.approx(observed.sum(1).mean())
        given = LOSSES.create(name, expected_positives=2.9)
        given.setup(observed)
        assert given.k_ == pytest.approx(2.9)


def test_role_initialisation_is_coles():
    """models.py LabelEstimator: observed positives at logit(0.995); unobserved entries uniform in
    ±logit(0.6) (their 'w = 0.1'); the authors' observed negatives (their -1) at logit(0.005) have no
    counterpart here (our zeros are their unobserved entries; our unknowns, -1, are drawn like them)."""
    observed = np.array([[1, 0, -1, 0], [0, 1, 1, 0]], dtype=np.int8)
    crit = LOSSES.create("role", random_state=3)
    crit.setup(observed)
    theta = crit.label_logits.detach().double().numpy()
    assert np.allclose(theta[observed == 1], math.log(0.995 / 0.005), atol=1e-6)
    assert np.all(np.abs(theta[observed != 1]) <= math.log(0.6 / 0.4) + 1e-7)
    assert crit.lr_multiplier == 10.0  # train.py: P['lr_mult'] = 10.0 for the label estimator's parameters


# ------------------------------------------------------------------------------------------------------------
# Lin et al. 2017: pytorch/vision torchvision/ops/focal_loss.py sigmoid_focal_loss (from facebookresearch/fvcore
# fvcore/nn/focal_loss.py); and robust-loss-mlml's focal baseline (train.py: AsymmetricLoss(2, 2, clip=0))
# ------------------------------------------------------------------------------------------------------------


def ref_sigmoid_focal_loss(logits, y, alpha=-1.0, gamma=2.0):
    """torchvision: ``BCE(z, y) (1 - p_t)^γ``, times ``α_t`` when ``α >= 0`` (the factor is differentiated)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def test_focal_default_is_lin_et_al_without_alpha():
    assert_agrees(lambda z: LF.focal(z, Y, reduction="sum"), lambda z: ref_sigmoid_focal_loss(z, Y).sum(), Z)
    assert_agrees(lambda z: LOSSES.create("focal")(z, Y), lambda z: ref_sigmoid_focal_loss(z, Y).mean(), Z)
    # the detection paper's α = 0.25 (torchvision's default) is one parameter away
    assert_agrees(lambda z: LF.focal(z, Y, alpha=0.25, reduction="sum"),
                  lambda z: ref_sigmoid_focal_loss(z, Y, alpha=0.25).sum(), Z)
    # hard-coded from ref_sigmoid_focal_loss(Z, Y).mean() (torchvision/ops/focal_loss.py, alpha=-1)
    assert LF.focal(Z, Y).item() == pytest.approx(FOCAL_VALUE, abs=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Ben-Baruch et al. 2021: Alibaba-MIIL/ASL, src/loss_functions/losses.py AsymmetricLoss.forward, built in train.py
# as AsymmetricLoss(gamma_neg=4, gamma_pos=0, clip=0.05, disable_torch_grad_focal_loss=True)
# ------------------------------------------------------------------------------------------------------------


def ref_asymmetric_loss(x, y, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8, disable_grad=True):
    """AsymmetricLoss.forward: clip shifts 1 - p up by ``clip`` (capped at 1), logs clamped at ``eps``, the
    one-sided focusing weight computed with autograd off when ``disable_grad``; ``-loss.sum()``."""
    x_sigmoid = torch.sigmoid(x)
    xs_pos, xs_neg = x_sigmoid, 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(not disable_grad):
            pt = xs_pos * y + xs_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
        loss = loss * one_sided_w
    return -loss.sum()


def test_asl_default_is_the_authors_training_recipe():
    assert_agrees(lambda z: LF.asymmetric(z, Y, reduction="sum"), lambda z: ref_asymmetric_loss(z, Y), Z)
    # the registered criterion: ours ("mean") times the number of entries is the authors' -loss.sum()
    assert_agrees(lambda z: LOSSES.create("asl")(z, Y), lambda z: ref_asymmetric_loss(z, Y), Z, scale=N_ENTRIES)
    # hard-coded from ref_asymmetric_loss(Z, Y) (Alibaba-MIIL/ASL losses.py + train.py): value, d/dz[0, 4]
    value, (grad,) = value_and_grad(lambda z: LF.asymmetric(z, Y, reduction="sum"), Z)
    assert value.item() == pytest.approx(ASL_SUM_VALUE, abs=1e-12)
    assert grad[0, 4].item() == pytest.approx(ASL_GRAD_0_4, abs=1e-12)


def test_asl_differentiated_focusing_is_an_option():
    assert_agrees(lambda z: LF.asymmetric(z, Y, reduction="sum", detach_focusing=False),
                  lambda z: ref_asymmetric_loss(z, Y, disable_grad=False), Z)
    # the two conventions have the same value and different gradients
    _, (detached,) = value_and_grad(lambda z: LF.asymmetric(z, Y), Z)
    _, (differentiated,) = value_and_grad(lambda z: LF.asymmetric(z, Y, detach_focusing=False), Z)
    assert (detached - differentiated).abs().max().item() * N_ENTRIES > 0.1


def test_asl_eps_clamp_is_a_known_difference_beyond_minus_18():
    """losses.py clamps p at eps = 1e-8 inside the log: for z < log(1e-8) ≈ -18.4 a positive's term stops at
    18.42 with zero gradient. Ours keeps the exact -log σ(z) (and its gradient of about -1)."""
    z = torch.tensor([[-20.0]], dtype=F64)
    y = torch.ones_like(z)
    assert ref_asymmetric_loss(z, y).item() == pytest.approx(-math.log(1e-8))
    assert LF.asymmetric(z, y, reduction="sum").item() == pytest.approx(20.0, abs=1e-8)


def test_robust_loss_mlml_focal_baseline_is_focal_with_detached_focusing():
    """robust-loss-mlml's train.py trains its 'Focal' baseline as AsymmetricLoss(gamma_neg=2, gamma_pos=2,
    clip=0) with the class default disable_torch_grad_focal_loss=True: focal loss with a constant factor."""
    assert_agrees(lambda z: LF.focal(z, Y, reduction="sum", detach_focusing=True),
                  lambda z: ref_asymmetric_loss(z, Y, gamma_neg=2.0, gamma_pos=2.0, clip=0.0), Z)


def test_soft_asl_with_indicator_weights_is_the_authors_asl():
    """soft-asl is ours; with the indicator weights (ω = y, ω̄ = 1) it is ASL, so it follows ASL's default."""
    assert_agrees(lambda z: soft_asl(z, Y, reduction="sum"), lambda z: ref_asymmetric_loss(z, Y), Z)
    assert_agrees(lambda z: LOSSES.create("soft-asl")(z, Y), lambda z: ref_asymmetric_loss(z, Y), Z,
                  scale=N_ENTRIES)


# ------------------------------------------------------------------------------------------------------------
# Zhang et al. 2021: xinyu1205/robust-loss-mlml, src/loss_functions/losses.py, Hill.forward and SPLC.forward
# (reduction 'sum' by default; train.py calls SPLC with the 0-based epoch)
# ------------------------------------------------------------------------------------------------------------


def ref_hill(logits, targets, lamb=1.5, margin=1.0, gamma=2.0):
    """Hill.forward: focal margin positives, ``-(λ - p) p^2`` negatives (negated), focal weight 1 there; sum."""
    pred_pos = torch.sigmoid(logits - margin)
    pred_neg = torch.sigmoid(logits)
    focal_weight = ((1 - pred_pos) * targets + (1 - targets)) ** gamma
    los_pos = targets * torch.log(pred_pos)
    los_neg = (1 - targets) * -(lamb - pred_neg) * pred_neg**2
    return (-(los_pos + los_neg) * focal_weight).sum()


def ref_splc(logits, targets, epoch, tau=0.6, change_epoch=1, margin=1.0, gamma=2.0):
    """SPLC.forward: the margin is subtracted where the target is 1, THEN zeros with σ(z) > τ become 1 (from
    ``change_epoch``); a corrected zero is therefore scored -(1 - p)^γ log p with no margin; sum."""
    logits = torch.where(targets == 1, logits - margin, logits)
    if epoch >= change_epoch:
        targets = torch.where(torch.sigmoid(logits) > tau, torch.ones_like(targets), targets)
    pred = torch.sigmoid(logits)
    focal_weight = ((1 - pred) * targets + pred * (1 - targets)) ** gamma
    loss = -(targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits))
    return (loss * focal_weight).sum()


def test_hill_is_the_authors():
    assert_agrees(lambda z: LF.hill(z, Y, reduction="sum"), lambda z: ref_hill(z, Y), Z)
    assert_agrees(lambda z: LOSSES.create("hill")(z, Y), lambda z: ref_hill(z, Y), Z, scale=N_ENTRIES)
    # hard-coded from ref_hill(Z, Y) (robust-loss-mlml losses.py, Hill)
    assert LF.hill(Z, Y, reduction="sum").item() == pytest.approx(HILL_SUM_VALUE, abs=1e-12)


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_splc_is_the_authors_at_every_epoch(epoch):
    crit = LOSSES.create("splc", reduction="sum")
    crit.start_epoch(epoch)
    assert_agrees(lambda z: crit(z, Y), lambda z: ref_splc(z, Y, epoch), Z)
    mean = LOSSES.create("splc")
    mean.start_epoch(epoch)
    assert_agrees(lambda z: mean(z, Y), lambda z: ref_splc(z, Y, epoch), Z, scale=N_ENTRIES)


def test_splc_corrected_zero_gets_plain_focal_loss_without_margin():
    """One observed zero at z = 1 (σ = 0.73 > τ): corrected, scored -(1 - p)^2 log p with p = σ(1)."""
    z = torch.tensor([[1.0]], dtype=F64)
    y = torch.zeros_like(z)
    p = 1 / (1 + math.exp(-1.0))
    got = LF.splc(z, y, reduction="sum").item()
    assert got == pytest.approx(-((1 - p) ** 2) * math.log(p), abs=1e-14)
    # hard-coded from ref_splc(Z, Y, epoch=1) (robust-loss-mlml losses.py, SPLC): value, d/dz[2, 0]
    value, (grad,) = value_and_grad(lambda t: LF.splc(t, Y, reduction="sum"), Z)
    assert value.item() == pytest.approx(SPLC_SUM_VALUE, abs=1e-12)
    assert grad[2, 0].item() == pytest.approx(SPLC_GRAD_2_0, abs=1e-12)


def test_splc_corrected_entry_keeps_its_observed_weight():
    pos, neg = _weights(1)
    terms = LF.splc(Z, Y, reduction="none")
    weighted = LF.splc(Z, Y, (pos, neg), reduction="none")
    torch.testing.assert_close(weighted, terms * torch.where(Y == 1, pos, neg), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------------------------------
# Kim et al., CVPR 2022: snucml/LargeLossMatters, losses.py compute_batch_loss (and train.py / config.py for the
# schedule: clean_rate starts at 1 and loses delta_rel / 100 after every epoch)
# ------------------------------------------------------------------------------------------------------------


def ref_large_loss(preds, label_vec, clean_rate, mod_scheme):
    """compute_batch_loss with logits ``preds``: k = ceil(B C (1 - clean_rate)); the k-th largest of the
    unobserved entries' BCE (observed positives count as 0) is the threshold; every entry whose masked loss is
    NOT below it is rejected (LL-R) or scored against the flipped label (LL-Ct); mean over B C."""
    n, c = preds.shape
    unobserved_mask = label_vec == 0
    loss_matrix = F.binary_cross_entropy_with_logits(preds, label_vec.clip(0), reduction="none")
    corrected = F.binary_cross_entropy_with_logits(preds, torch.logical_not(label_vec).to(preds.dtype),
                                                   reduction="none")
    if clean_rate == 1:
        final = loss_matrix
    else:
        k = math.ceil(n * c * (1 - clean_rate))
        unobserved_loss = unobserved_mask * loss_matrix
        threshold = torch.topk(unobserved_loss.flatten(), k).values[-1]
        if mod_scheme == "LL-Ct":
            final = torch.where(unobserved_loss < threshold, loss_matrix, corrected)
        else:
            final = torch.where(unobserved_loss < threshold, loss_matrix, torch.zeros_like(loss_matrix))
    return final.mean()


@pytest.mark.parametrize(("mode", "scheme"), [("reject", "LL-R"), ("correct", "LL-Ct")])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5])
def test_large_loss_is_the_authors(mode, scheme, rate):
    assert_agrees(lambda z: LF.large_loss(z, Y, rate=rate, mode=mode),
                  lambda z: ref_large_loss(z, Y, 1.0 - rate, scheme), Z)


@pytest.mark.parametrize(("mode", "scheme"), [("reject", "LL-R"), ("correct", "LL-Ct")])
def test_large_loss_ties_at_the_kth_value_are_all_picked(mode, scheme):
    """Three zeros share the k-th largest loss (k = 2): the authors' ``< threshold`` keeps none of them."""
    z = torch.tensor([[2.0, 1.0, 1.0, 1.0, -1.0, 3.0]], dtype=F64)
    y = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]], dtype=F64)
    rate = 2 / 6
    mask = LF.large_loss_mask(z, y, rate)
    assert mask.tolist() == [[True, True, True, True, False, False]]
    assert_agrees(lambda t: LF.large_loss(t, y, rate=rate, mode=mode),
                  lambda t: ref_large_loss(t, y, 1.0 - rate, scheme), z)
    # so the selection does not depend on the order of the entries
    perm = torch.tensor([3, 5, 0, 4, 2, 1])
    assert torch.equal(LF.large_loss_mask(z[:, perm], y[:, perm], rate), mask[:, perm])


@pytest.mark.parametrize(("mode", "scheme"), [("reject", "LL-R"), ("correct", "LL-Ct")])
def test_large_loss_k_above_the_candidates_takes_every_candidate_and_spares_the_positives(mode, scheme):
    """k = ceil(0.8 * 6) = 5 > 3 zeros. Known difference, on purpose: the authors' threshold is then an
    observed positive's masked loss, 0, so EVERY entry is modified -- LL-R drops the positives' terms and LL-Ct
    scores the positives against the flipped label 0. Ours modifies the 3 zeros only."""
    z = torch.tensor([[2.0, -1.0, 0.5, 1.5, -0.3, 0.8]], dtype=F64)
    y = torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]], dtype=F64)
    rate = 0.8
    assert LF.large_loss_mask(z, y, rate).tolist() == [[True, True, True, False, False, False]]
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    zeros = y == 0
    if mode == "reject":
        expected = torch.where(zeros, 0.0, bce).mean()
    else:
        expected = torch.where(zeros, F.softplus(-z), bce).mean()
    torch.testing.assert_close(LF.large_loss(z, y, rate=rate, mode=mode), expected, rtol=0, atol=1e-15)
    # the authors' literal result: the zeros' part agrees, the positives' part is what differs
    theirs = ref_large_loss(z, y, 1.0 - rate, scheme)
    zeros_part = torch.zeros_like(z) if mode == "reject" else F.softplus(-z)
    positives_part = torch.zeros_like(z) if mode == "reject" else F.softplus(z)  # BCE against the flipped 0
    torch.testing.assert_close(theirs, torch.where(zeros, zeros_part, positives_part).mean(), rtol=0, atol=1e-15)


def test_large_loss_k_is_the_ceiling_without_float_noise():
    """k = ceil(rate * B * C) of the intended rate: epoch 9 at delta_rel 0.001 is 0.9 % of 1000 entries, k = 9
    (9 * 0.001 * 1000 = 9.000000000000002 in floating point must not round k up to 10)."""
    z = torch.linspace(-3.0, 3.0, 1000, dtype=F64).reshape(10, 100)
    y = torch.zeros_like(z)
    crit = LargeLossRejection(delta_rel=0.001)
    crit.start_epoch(9)
    assert crit.rate == pytest.approx(0.009)
    assert int(LF.large_loss_mask(z, y, crit.rate).sum()) == 9


@pytest.mark.parametrize("cls", [LargeLossRejection, LargeLossCorrection])
def test_large_loss_schedule_is_the_authors(cls):
    """train.py: epochs are 1-based, clean_rate = 1 in the first and loses delta_rel after each; ours is
    0-based: rate(epoch) = epoch * delta_rel. Same k at every epoch (B C = 1280, the authors' COCO batch of 16)."""
    z = torch.linspace(-4.0, 4.0, 1280, dtype=F64).reshape(16, 80)
    y = torch.zeros_like(z)
    y[:, ::7] = 1.0
    delta_rel = 0.2 / 100  # --delta_rel 0.2 (percent), divided by 100 in config.py
    crit = cls(delta_rel=delta_rel).double()
    scheme = "LL-R" if cls is LargeLossRejection else "LL-Ct"
    clean_rate = 1.0
    for epoch in range(8):  # authors' epoch = epoch + 1
        crit.start_epoch(epoch)
        torch.testing.assert_close(crit(z, y), ref_large_loss(z, y, clean_rate, scheme), rtol=0, atol=1e-14)
        clean_rate -= delta_rel


# ------------------------------------------------------------------------------------------------------------
# Durand et al., CVPR 2019 (no official code): the paper's partial-BCE, ℓ = g(p_y)/C Σ_{c known} BCE, with
# g(p) = α p^γ + β, g(1) = 1, g(0.1) = 5, γ = 1
# ------------------------------------------------------------------------------------------------------------


def ref_partial_bce(logits, y, known, gamma=1.0):
    """The paper's formula, sample by sample; the mean over the batch."""
    alpha = -4.0 / (1.0 - 0.1**gamma)
    beta = 1.0 - alpha
    c = logits.shape[1]
    per_sample = []
    for z_n, y_n, k_n in zip(logits, y, known):
        p_n = k_n.to(F64).mean()
        g = alpha * p_n**gamma + beta
        bce = F.binary_cross_entropy_with_logits(z_n[k_n], y_n[k_n], reduction="sum")
        per_sample.append(g / c * bce)
    return torch.stack(per_sample).mean()


def test_partial_bce_is_the_papers():
    known = torch.tensor(
        [[True] * 6, [True, True, False, True, False, True], [False] * 5 + [True], [True, False] * 3]
    )
    assert_agrees(lambda z: LOSSES.create("partial-bce")(z, Y, known=known),
                  lambda z: ref_partial_bce(z, Y, known), Z, grad_tol=1e-13)
    alpha, beta = LF.partial_bce_coefficients(1.0)
    assert (alpha, beta) == pytest.approx((-40 / 9, 49 / 9))  # the ports' -4.45 / 5.45, unrounded


# ------------------------------------------------------------------------------------------------------------
# Ours (no authors' code): soft-bce, weak-soft-bce -- their reductions to the published losses
# ------------------------------------------------------------------------------------------------------------


def test_soft_bce_with_indicator_weights_is_ibrahims_unit_weighted_loss():
    ones = torch.ones_like(Z)
    assert_agrees(lambda z: soft_bce(z, Y), lambda z: ref_ibrahim_weighted_loss(z, Y, ones, ones), Z)


def test_weak_soft_bce_wan_with_no_weights_is_coles_wan():
    crit = LOSSES.create("weak-soft-bce", zero_weight="wan")
    crit.setup(Y.numpy().astype(np.int8))
    assert_agrees(lambda z: crit(z, Y), lambda z: ref_cole("wan", z, Y, eps=0.0), Z, grad_tol=1e-13)


# ------------------------------------------------------------------------------------------------------------
# Values computed once from the references above on (Z, Y, THETA) and hard-coded here
# ------------------------------------------------------------------------------------------------------------

IBRAHIM_UNIT_VALUE = 2.0358353878490405
COLE_AN_LS_VALUE = 1.9864603878490406
COLE_WAN_VALUE = 1.2035742567863321
COLE_EPR_VALUE = 0.9958067957840532
COLE_ROLE_VALUE = 2.245505992594903
FOCAL_VALUE = 1.739655423371575
ASL_SUM_VALUE = 31.333426702041397
ASL_GRAD_0_4 = 0.03888600787141199
HILL_SUM_VALUE = 30.028275948430924
SPLC_SUM_VALUE = 26.79513585005804
SPLC_GRAD_2_0 = -0.05258112997756062
