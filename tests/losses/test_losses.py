"""Losses: reference checks against PyTorch's BCE, hand-computed examples from each paper's formula,
gradcheck, numerical stability, and common tests over every registered loss and method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlml.exceptions import MLMLError
from mlml.losses import LOSSES
from mlml.losses import functional as LF
from mlml.losses.modules import ROLE, SPLC, LargeLossCorrection, LargeLossPermanent, LargeLossRejection
from mlml.methods import METHODS

ALL_LOSSES = LOSSES.names()


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def batch(n: int = 6, c: int = 5, *, seed: int = 0, dtype=torch.float64, scale: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g, dtype=dtype) * scale).requires_grad_(True)
    targets = (torch.rand(n, c, generator=g) < 0.35).to(dtype)
    pos = torch.rand(n, c, generator=g, dtype=dtype) + 0.5
    neg = torch.rand(n, c, generator=g, dtype=dtype)
    return logits, targets, pos, neg


def make(name: str, targets: torch.Tensor, **kwargs) -> torch.nn.Module:
    """A registered criterion, set up on ``targets`` as the training labels, in its 'late epoch' state."""
    crit = LOSSES.create(name, **kwargs)
    crit.setup(targets.detach().numpy().astype(np.int8))
    if crit.needs_class_prior:  # CSL: what the trainer would hand over (a temporary model's mean prediction)
        crit.set_class_prior(np.linspace(0.05, 0.95, targets.shape[1]))
    crit.start_epoch(3)
    if isinstance(crit, (LargeLossRejection, LargeLossCorrection, LargeLossPermanent)):
        crit.delta_rel = 0.05  # rate 0.15 at epoch 3: some entries are rejected on a 30-entry batch
    return crit.double()


# ---------------------------------------------------------------------------------------------- weighted BCE


@pytest.fixture(params=["composite", "fused"])
def path(request, monkeypatch):
    """Run a test on both code paths of weighted_bce (the fused one is forced on small inputs)."""
    monkeypatch.setattr(LF, "FUSED_MIN_NUMEL", 1 if request.param == "fused" else 1 << 60)
    return request.param


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_bce_unit_weights_is_pytorch_bce(path, reduction):
    logits, targets, _, _ = batch()
    ours = LF.weighted_bce(logits, targets, reduction=reduction)
    ref = F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    ones = torch.ones_like(targets)
    torch.testing.assert_close(LF.weighted_bce(logits, targets, (ones, ones), reduction=reduction), ref)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_bce_matches_eq2_and_its_gradient(path, reduction):
    logits, targets, pos, neg = batch()
    ours = LF.weighted_bce(logits, targets, (pos, neg), reduction=reduction)
    p = torch.sigmoid(logits)
    literal = -(pos * targets * torch.log(p) + neg * (1 - targets) * torch.log(1 - p))
    ref = {"mean": literal.mean(), "sum": literal.sum(), "none": literal}[reduction]
    torch.testing.assert_close(ours, ref)
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    (g_ref,) = torch.autograd.grad(ref.sum(), logits)
    torch.testing.assert_close(g_ours, g_ref)


def test_weighted_bce_fused_and_composite_agree_on_a_large_batch():
    logits, targets, pos, neg = batch(256, 300, dtype=torch.float32)
    assert logits.numel() >= LF.FUSED_MIN_NUMEL
    fused = LF.weighted_bce(logits, targets, (pos, neg))
    (g_fused,) = torch.autograd.grad(fused, logits)
    ref = F.binary_cross_entropy_with_logits(logits, targets, weight=targets * pos + (1 - targets) * neg)
    (g_ref,) = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(fused, ref)
    torch.testing.assert_close(g_fused, g_ref)


def test_weighted_bce_zero_weight_gives_exactly_zero_gradient(path):
    logits, targets, pos, neg = batch()
    zero = torch.rand(targets.shape, generator=torch.Generator().manual_seed(1)) < 0.4
    pos, neg = pos.masked_fill(zero, 0.0), neg.masked_fill(zero, 0.0)
    (grad,) = torch.autograd.grad(LF.weighted_bce(logits, targets, (pos, neg)), logits)
    assert torch.all(grad[zero] == 0)
    assert torch.all(grad[~zero] != 0)


def test_weighted_bce_precombined_weight(path):
    logits, targets, pos, neg = batch()
    w = LF.entry_weight(targets, (pos, neg))
    torch.testing.assert_close(w, torch.where(targets == 1, pos, neg), rtol=0, atol=0)
    expected = LF.weighted_bce(logits, targets, (pos, neg))
    torch.testing.assert_close(LF.weighted_bce(logits, targets, w), expected)


def test_every_loss_takes_the_pair_or_the_combined_weight_alike():
    """One signature: (ω, ω̄) and the combined w give the same loss and gradient for every per-entry loss."""
    logits, targets, pos, neg = batch(6, 5)
    w = LF.entry_weight(targets, (pos, neg))
    functions = {
        "weighted_bce": LF.weighted_bce, "an_ls": LF.an_ls, "wan": LF.wan, "focal": LF.focal,
        "asymmetric": LF.asymmetric, "hill": LF.hill, "splc": LF.splc, "partial_bce": LF.partial_bce,
        "large_loss": lambda z, y, ws: LF.large_loss(z, y, ws, rate=0.2),
    }
    for name, fn in functions.items():
        z = logits.clone().requires_grad_(True)
        a = fn(z, targets, (pos, neg))
        (ga,) = torch.autograd.grad(a, z)
        b = fn(z, targets, w)
        (gb,) = torch.autograd.grad(b, z)
        torch.testing.assert_close(a, b, msg=name)
        torch.testing.assert_close(ga, gb, msg=name)


def test_weighted_bce_gradcheck_fused(path):
    logits, targets, pos, neg = batch(4, 3)
    assert torch.autograd.gradcheck(lambda z: LF.weighted_bce(z, targets, (pos, neg)), (logits,))
    assert torch.autograd.gradcheck(lambda z: LF.weighted_bce(z, targets, reduction="sum"), (logits,))


# ------------------------------------------------------------------------------------ hand-computed examples


def test_an_ls_hand_example():
    z = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    p0, p1 = sig(0.3), sig(-1.2)
    neg = -0.9 * math.log(1 - p0) - 0.1 * math.log(p0)
    pos = -0.9 * math.log(p1) - 0.1 * math.log(1 - p1)
    assert LF.an_ls(z, y, reduction="sum").item() == pytest.approx(neg + pos)
    only_neg = LF.an_ls(z, y, reduction="none", smooth_positives=False)
    assert only_neg[0, 0].item() == pytest.approx(neg)
    assert only_neg[0, 1].item() == pytest.approx(-math.log(p1))


def test_wan_hand_example():
    z = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = (-math.log(sig(1.0)) + 0.5 * -math.log(1 - sig(-2.0)) + 0.5 * -math.log(1 - sig(0.5))) / 3
    assert LF.wan(z, y).item() == pytest.approx(expected)
    with pytest.raises(MLMLError, match="at least 2 labels"):
        LF.wan(z[:, :1], y[:, :1])


def test_epr_hand_example():
    z = torch.tensor([[2.0, -1.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    data = -math.log(sig(2.0)) / 4
    mean_pos = (sig(2.0) + sig(-1.0) + sig(0.0) + sig(1.0)) / 2
    penalty = (mean_pos - 1.5) ** 2 / 4
    assert LF.epr(z, y, expected_positives=1.5, lam=2.0).item() == pytest.approx(data + 2.0 * penalty)
    assert LF.epr(z, y, expected_positives=1.5, lam=2.0, reduction="sum").item() == pytest.approx(
        4 * (data + 2.0 * penalty)
    )


def test_role_hand_example():
    z = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    theta = torch.tensor([[2.0, 0.3]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    f, e = [sig(v) for v in (1.0, -0.5)], [sig(v) for v in (2.0, 0.3)]

    def bce(p, t):
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    terms = [0.5 * (y_ * (-math.log(f_) - math.log(e_)) + bce(f_, e_) + bce(e_, f_))
             for f_, e_, y_ in zip(f, e, [1.0, 0.0])]
    penalty = 0.5 * ((sum(f) - 1.0) ** 2 + (sum(e) - 1.0) ** 2) / 4
    got = LF.role(z, y, label_logits=theta, expected_positives=1.0)
    assert got.item() == pytest.approx(sum(terms) / 2 + penalty)


def test_role_gradient_is_the_papers():
    logits, targets, pos, neg = batch(3, 4, seed=6)
    g = torch.Generator().manual_seed(1)
    theta = torch.randn(3, 4, dtype=torch.float64, generator=g).requires_grad_(True)
    loss = LF.role(logits, targets, (pos, neg), label_logits=theta, expected_positives=1.2, lam=0.7)
    g_z, g_theta = torch.autograd.grad(loss, (logits, theta))
    f, e = torch.sigmoid(logits.detach()), torch.sigmoid(theta.detach())
    w = torch.where(targets == 1, pos, neg)
    n, c = f.shape

    def penalty_grad(p):  # d/dx of 0.5 * lam * ((1/n) sum p - k)^2 / c^2 with p = sigmoid(x)
        return 0.5 * 0.7 * 2 * (p.sum(1).mean() - 1.2) / c**2 / n * p * (1 - p)

    # d/dz of 0.5 w [y (-log f) + BCE(f; e)] is 0.5 w [-y (1 - f) + (f - e)]; symmetrically for theta
    expected_z = 0.5 * w * (-targets * (1 - f) + (f - e)) / (n * c) + penalty_grad(f)
    expected_theta = 0.5 * w * (-targets * (1 - e) + (e - f)) / (n * c) + penalty_grad(e)
    torch.testing.assert_close(g_z, expected_z)
    torch.testing.assert_close(g_theta, expected_theta)


def test_focal_hand_example():
    z = torch.tensor([[0.7, 0.7]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    p = sig(0.7)
    pos, neg = -((1 - p) ** 2) * math.log(p), -(p**2) * math.log(1 - p)
    expected = torch.tensor([[pos, neg]], dtype=torch.float64)
    torch.testing.assert_close(LF.focal(z, y, reduction="none"), expected)
    got = LF.focal(z, y, reduction="none", alpha=0.25, gamma=2.0)
    torch.testing.assert_close(got, torch.tensor([[0.25 * pos, 0.75 * neg]], dtype=torch.float64))
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    torch.testing.assert_close(LF.focal(z, y, reduction="none", gamma=0.0), bce)


def test_asl_hand_example():
    z = torch.tensor([[0.2, -3.0, 0.4]], dtype=torch.float64)
    y = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    pm = sig(0.2) - 0.05
    expected = [-(pm**4) * math.log(1 - pm), 0.0, -math.log(sig(0.4))]  # sig(-3) < 0.05: shifted to 0
    got = LF.asymmetric(z, y, reduction="none")
    torch.testing.assert_close(got, torch.tensor([expected], dtype=torch.float64))
    # gamma_pos > 0 and no margin: a focal loss with asymmetric exponents
    got = LF.asymmetric(z, y, reduction="none", gamma_pos=1.0, gamma_neg=2.0, margin=0.0)
    p = [sig(v) for v in (0.2, -3.0, 0.4)]
    expected = [-(p[0] ** 2) * math.log(1 - p[0]), -(p[1] ** 2) * math.log(1 - p[1])]
    expected.append(-(1 - p[2]) * math.log(p[2]))
    torch.testing.assert_close(got, torch.tensor([expected], dtype=torch.float64))


def test_hill_hand_example():
    z = torch.tensor([[0.5, 2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    p = sig(0.5)
    pm = sig(2.0 - 1.0)
    expected = [(1.5 - p) * p**2, -((1 - pm) ** 2) * math.log(pm)]
    torch.testing.assert_close(LF.hill(z, y, reduction="none"), torch.tensor([expected], dtype=torch.float64))


def test_splc_hand_example_and_correction_switch():
    z = torch.tensor([[1.0, -0.2, 1.5]], dtype=torch.float64)
    y = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    p = [sig(v) for v in (1.0, -0.2, 1.5)]

    def lpos(v, margin=1.0):
        pm = sig(v - margin)
        return -((1 - pm) ** 2) * math.log(pm)

    def lneg(q):
        return -(q**2) * math.log(1 - q)

    # sig(1.0) = 0.73 > 0.6: treated as a positive, without the margin (robust-loss-mlml's SPLC.forward shifts
    # the logits of the target-1 entries before it corrects the others)
    corrected = [lpos(1.0, margin=0.0), lneg(p[1]), lpos(1.5)]
    plain = [lneg(p[0]), lneg(p[1]), lpos(1.5)]
    got = LF.splc(z, y, reduction="none")
    torch.testing.assert_close(got, torch.tensor([corrected], dtype=torch.float64))
    torch.testing.assert_close(
        LF.splc(z, y, reduction="none", correct=False), torch.tensor([plain], dtype=torch.float64)
    )
    crit = SPLC().double()
    assert not crit.correcting  # epoch 0: before the start epoch
    torch.testing.assert_close(crit(z, y), torch.tensor(plain, dtype=torch.float64).mean())
    crit.start_epoch(1)
    assert crit.correcting
    torch.testing.assert_close(crit(z, y), torch.tensor(corrected, dtype=torch.float64).mean())


def test_large_loss_hand_example():
    z = torch.tensor([[3.0, 1.0, -1.0, 2.0], [0.5, 4.0, -2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    # rate 0.25 of 8 entries: the k = 2 largest assumed-negative losses, logits 3.0 and 1.0 (4.0 is positive)
    mask = LF.large_loss_mask(z, y, 0.25)
    expected_mask = torch.zeros_like(mask)
    expected_mask[0, 0] = expected_mask[0, 1] = True
    assert torch.equal(mask, expected_mask)
    rejected = LF.large_loss(z, y, rate=0.25, reduction="none")
    torch.testing.assert_close(rejected, bce.masked_fill(expected_mask, 0.0))
    corrected = LF.large_loss(z, y, rate=0.25, mode="correct", reduction="none")
    ref = bce.clone()
    ref[0, 0], ref[0, 1] = -math.log(sig(3.0)), -math.log(sig(1.0))
    torch.testing.assert_close(corrected, ref)
    # zero-weight entries are never picked: the next largest is chosen instead
    w = torch.ones_like(z)
    w[0, 0] = 0.0
    assert LF.large_loss_mask(z, y, 0.25, candidates=w != 0)[1, 0]


def test_partial_bce_hand_example():
    z = torch.tensor([[1.0, -1.0, 0.5, 2.0], [0.0, 0.3, -0.7, 1.2]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    known = torch.tensor([[True, True, False, False], [True, True, True, True]])
    alpha, beta = LF.partial_bce_coefficients(1.0)
    assert alpha * 1 + beta == pytest.approx(1.0) and alpha * 0.1 + beta == pytest.approx(5.0)
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    row0 = (alpha * 0.5 + beta) * (bce[0, 0] + bce[0, 1]) / 4
    row1 = bce[1].sum() / 4
    got = LF.partial_bce(z, y, known=known)
    assert got.item() == pytest.approx(((row0 + row1) / 2).item())
    torch.testing.assert_close(LF.partial_bce(z, y), bce.mean())


# ---------------------------------------------------------------------------------- common registry tests


# ROLE stops gradients on purpose (each side fits the other's detached output), so its gradient is not the
# derivative of its value; test_role_gradient_is_the_papers checks it against the hand-derived one instead.
# ASL's default detaches its focusing factors (the authors' recipe), so gradcheck runs on the differentiated
# variant; tests/losses/test_losses_reference.py checks the default's gradient against the authors' code.
# GR and GPR detach K and V (their authors' ``preds.detach()``): tests/losses/test_losses_frontier.py checks their
# gradient against the authors' code. LL-Cp keeps the corrections of every training-mode call: gradcheck runs it
# in eval mode, where a call changes nothing.
@pytest.mark.parametrize("name", [n for n in ALL_LOSSES if n not in ("role", "gr", "gpr")])
def test_gradcheck_float64(name):
    logits, targets, pos, neg = batch(4, 3, seed=2)
    crit = make(name, targets, **({"detach_focusing": False} if name in ("asl", "soft-asl") else {}))
    crit.train(name != "ll-cp")
    index = torch.arange(4)
    assert torch.autograd.gradcheck(lambda z: crit(z, targets, (pos, neg), index=index), (logits,))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_reductions_are_consistent(name):
    logits, targets, pos, neg = batch()
    index = torch.arange(logits.shape[0])
    values = {}
    for reduction in ("mean", "sum", "none"):
        crit = make(name, targets, reduction=reduction)
        values[reduction] = crit(logits, targets, (pos, neg), index=index)
    assert values["none"].shape == logits.shape
    n = logits.numel()
    torch.testing.assert_close(values["mean"] * n, values["sum"])
    torch.testing.assert_close(values["none"].sum(), values["sum"])


@pytest.mark.parametrize("name", ALL_LOSSES)
@pytest.mark.parametrize("value", [100.0, -100.0])
def test_finite_on_extreme_logits_and_rows_without_positives(name, value):
    logits, targets, pos, neg = batch(dtype=torch.float32)
    extreme = torch.full_like(logits, value)
    extreme[:, ::2] = -value
    extreme.requires_grad_(True)
    targets[0] = 0.0  # a sample with no positives
    crit = make(name, targets).float()
    for weights in (None, (pos, neg)):
        loss = crit(extreme, targets, weights, index=torch.arange(6))
        (grad,) = torch.autograd.grad(loss, extreme)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    zeros = torch.zeros_like(targets)
    loss = crit(logits, zeros, index=torch.arange(6))
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", [n for n in ALL_LOSSES if LOSSES.get(n).per_entry])
def test_zero_weight_gives_zero_gradient(name):
    logits, targets, pos, neg = batch()
    zero = torch.rand(targets.shape, generator=torch.Generator().manual_seed(5)) < 0.4
    pos, neg = pos.masked_fill(zero, 0.0), neg.masked_fill(zero, 0.0)
    crit = make(name, targets)
    index = torch.arange(logits.shape[0])  # the stateful losses (EM + APL, LL-Cp) read their rows' state
    (grad,) = torch.autograd.grad(crit(logits, targets, (pos, neg), index=index), logits)
    assert torch.all(grad[zero] == 0)
    # the known mask does the same where no weights are given (except for a loss that trains unknown entries)
    (grad,) = torch.autograd.grad(crit(logits, targets, known=~zero, index=index), logits)
    assert torch.all(grad[zero] == 0) or (crit.reads_unknown and torch.any(grad[zero] != 0))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_batch_permutation_invariance(name):
    logits, targets, pos, neg = batch(8, 5)
    index = torch.arange(8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    base = make(name, targets)(logits, targets, (pos, neg), index=index)  # a fresh criterion each: LL-Cp keeps
    permuted = make(name, targets)(logits[perm], targets[perm], (pos[perm], neg[perm]), index=index[perm])
    torch.testing.assert_close(base, permuted)


def test_every_method_names_a_registered_loss_and_builds_it():
    for name in METHODS.names():
        method = METHODS.get(name)
        assert method.loss in LOSSES, f"method {name!r}: unknown loss {method.loss!r}"
        assert isinstance(method.make_loss(), torch.nn.Module)


def test_unknown_loss_name_lists_the_valid_ones():
    with pytest.raises(MLMLError) as info:
        LOSSES.create("asymetric")
    message = str(info.value)
    assert "asymetric" in message
    for name in ("asl", "focal", "role", "weighted-bce"):
        assert name in message


@pytest.mark.parametrize(
    ("fn", "kwargs", "match"),
    [
        (LF.focal, {"gamma": -1.0}, "'gamma'"),
        (LF.asymmetric, {"margin": 1.5}, "'margin'"),
        (LF.splc, {"tau": 2.0}, "'tau'"),
        (LF.an_ls, {"reduction": "avg"}, "'reduction'"),
        (LF.large_loss, {"rate": 0.1, "mode": "drop"}, "'mode'"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(fn, kwargs, match):
    logits, targets, _, _ = batch()
    with pytest.raises(MLMLError, match=match):
        fn(logits, targets, **kwargs)


# ---------------------------------------------------------------------------------------- stateful losses


def test_role_state_shape_initialisation_and_update():
    observed = np.array([[1, 0, -1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.int8)
    crit = ROLE(random_state=7)
    with pytest.raises(MLMLError, match="setup"):
        crit(torch.zeros(2, 3), torch.zeros(2, 3), index=torch.arange(2))
    crit.setup(observed)
    assert crit.label_logits.shape == (4, 3)
    assert crit.k_ == pytest.approx(5 / 4)  # 5 observed positives in 4 rows
    est = crit.estimated_labels()
    assert np.allclose(est[observed == 1], 0.995)
    assert np.all(np.abs(est[observed != 1] - 0.5) <= 0.1 + 1e-9)
    again = ROLE(random_state=7)
    again.setup(observed)
    assert torch.equal(again.label_logits, crit.label_logits)  # the draw depends on random_state only
    assert [p is crit.label_logits for p in crit.parameters()] == [True]

    before = crit.label_logits.detach().clone()
    model_logits = torch.randn(2, 3, requires_grad=True)
    index = torch.tensor([1, 3])
    targets = torch.as_tensor(observed[[1, 3]] == 1, dtype=torch.float32)
    optimiser = torch.optim.SGD([model_logits, *crit.parameters()], lr=1.0)
    crit(model_logits, targets, index=index).backward()
    grad = crit.label_logits.grad
    assert torch.all(grad[[0, 2]] == 0) and torch.any(grad[[1, 3]] != 0)
    optimiser.step()
    after = crit.label_logits.detach()
    assert torch.equal(after[[0, 2]], before[[0, 2]]) and not torch.equal(after[[1, 3]], before[[1, 3]])
    with pytest.raises(MLMLError, match="index"):
        crit(model_logits, targets)


def test_epr_expected_positives_from_setup_or_parameter():
    observed = np.array([[1, 1, 0], [0, 0, 1]], dtype=np.int8)
    crit = LOSSES.create("epr")
    with pytest.raises(MLMLError, match="expected_positives"):
        crit(torch.zeros(2, 3), torch.zeros(2, 3))
    crit.setup(observed)
    assert crit.k_ == pytest.approx(1.5)
    fixed = LOSSES.create("epr", expected_positives=2.9)
    fixed.setup(observed)
    assert fixed.k_ == pytest.approx(2.9)


@pytest.mark.parametrize("cls", [LargeLossRejection, LargeLossCorrection])
def test_large_loss_schedule_across_epochs(cls):
    logits, targets, _, _ = batch(10, 10, seed=4)
    crit = cls(delta_rel=0.02).double()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    n_negatives = int((targets == 0).sum())
    for epoch, rate in [(0, 0.0), (1, 0.02), (3, 0.06), (60, 1.0)]:
        crit.start_epoch(epoch)
        assert crit.rate == pytest.approx(rate)
        got = crit(logits, targets)
        mask = LF.large_loss_mask(logits, targets, rate)
        assert int(mask.sum()) == min(math.ceil(rate * 100), n_negatives)
        if cls is LargeLossRejection:
            expected = bce.masked_fill(mask, 0.0).mean()
        else:
            expected = torch.where(mask, F.softplus(-logits), bce).mean()
        torch.testing.assert_close(got, expected)
    crit.start_epoch(0)
    torch.testing.assert_close(crit(logits, targets), bce.mean())  # the first epoch is plain BCE
    with pytest.raises(MLMLError, match="epoch"):
        crit.start_epoch(-1)
