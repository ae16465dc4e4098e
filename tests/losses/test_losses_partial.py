"""Losses under partial annotations (issue 14): suspect zeros vs verified negatives, and the class-aware selective
loss checked against its authors' formula (Alibaba-MIIL/PartialLabelingCSL, src/loss_functions/
partial_asymmetric_loss.py, ``PartialSelectiveLoss.forward`` in ``partial_loss_mode="selective"``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlml.exceptions import MLMLError
from mlml.losses import LOSSES
from mlml.losses import functional as LF
from mlml.losses.modules import CSL
from mlml.losses.modules.selective import annotated_prior

ALL_LOSSES = LOSSES.names()


def _batch(n: int = 8, c: int = 6, *, seed: int = 0, dtype=torch.float64):
    """Logits, 0/1 targets, weights (ω, ω̄), and the observed labels with every state (1, 0, 2, -1)."""
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g, dtype=dtype) * 2.5).requires_grad_(True)
    u = torch.rand(n, c, generator=g)
    observed = torch.where(u < 0.3, 1, torch.where(u < 0.55, 0, torch.where(u < 0.85, 2, -1))).to(torch.int8)
    targets = (observed == 1).to(dtype)
    known = observed != -1
    pos = (torch.rand(n, c, generator=g, dtype=dtype) + 0.5) * known
    neg = torch.rand(n, c, generator=g, dtype=dtype) * known
    neg = torch.where(observed == 2, torch.ones_like(neg), neg)  # the estimator contract: a verified negative is 1
    return logits, targets, (pos, neg), known, observed


def _make(name: str, observed: torch.Tensor, **kwargs):
    crit = LOSSES.create(name, **kwargs)
    crit.setup(observed.numpy())
    if crit.needs_class_prior:
        crit.set_class_prior(np.linspace(0.05, 0.95, observed.shape[1]))
    crit.start_epoch(4)
    if name in ("ll-r", "ll-ct"):
        crit.delta_rel = 0.1  # rate 0.4: many entries picked
    return crit.double()


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_the_suspect_mask_of_the_positive_unlabelled_regime_changes_nothing(name):
    """On labels without verified negatives the trainer's ``suspect = (labels == 0)`` gives exactly (bit for bit)
    the loss and gradient of ``suspect=None`` (every zero suspect): PU-regime numbers stay as they were."""
    logits, targets, weights, known, observed = _batch(seed=1)
    observed = torch.where(observed == 2, 0, observed).to(torch.int8)  # no verified negative
    pos, neg = weights
    neg = torch.where(observed == 0, torch.rand(neg.shape, dtype=neg.dtype), neg) * known
    crit = _make(name, observed)
    index = torch.arange(logits.shape[0])
    combined = LF.entry_weight(targets, (pos, neg))
    for given in ((pos, neg), combined):
        if crit.needs_pair is False and isinstance(given, tuple):
            given = combined  # what the trainer passes such a loss
        a = crit(logits, targets, given, index=index, known=known)
        (ga,) = torch.autograd.grad(a, logits)
        b = crit(logits, targets, given, index=index, known=known, suspect=observed == 0)
        (gb,) = torch.autograd.grad(b, logits)
        assert torch.equal(a, b), name
        assert torch.equal(ga, gb), name


def _focal_negative(z: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    return -torch.sigmoid(z).pow(gamma) * F.logsigmoid(-z)


def _asl_negative(z: torch.Tensor, gamma: float, margin: float) -> torch.Tensor:
    p_m = torch.clamp(torch.sigmoid(z) - margin, min=0.0)
    return -p_m.pow(gamma) * torch.log(torch.clamp(1.0 - p_m, max=1.0))


#: The term a verified negative (target 0, weight w = ω̄) gets from each loss, as a function of the logit: never
#: rejected, corrected, down-weighted or given a pseudo-positive term.
VERIFIED_TERM = {
    "weighted-bce": lambda z: F.softplus(z),
    "wan": lambda z: F.softplus(z),  # not WAN's 1/(C-1)
    "ll-r": lambda z: F.softplus(z),  # never rejected
    "ll-ct": lambda z: F.softplus(z),  # never corrected
    "splc": _focal_negative,  # never corrected, whatever its probability
    "hill": _focal_negative,  # not the hill, which spares likely positives
    "soft-bce": lambda z: F.softplus(z),  # no pseudo-positive term
    "weak-soft-bce": lambda z: F.softplus(z),  # not weakened
    "soft-asl": lambda z: _asl_negative(z, 4.0, 0.05),
    "focal": _focal_negative,
    "asl": lambda z: _asl_negative(z, 4.0, 0.05),
    "csl": lambda z: _asl_negative(z, 1.0, 0.0),  # CSL's annotated negative, γ− = 1
}


@pytest.mark.parametrize("name", sorted(VERIFIED_TERM))
def test_a_verified_negative_gets_the_full_certain_negative_term(name):
    logits, targets, weights, known, observed = _batch(seed=3)
    with torch.no_grad():  # make the verified negatives the likeliest positives of the batch
        logits[observed == 2] = logits[observed == 2].abs() + 4.0
    crit = _make(name, observed, reduction="none")
    given = weights if crit.needs_pair else LF.entry_weight(targets, weights)
    terms = crit(logits, targets, given, index=torch.arange(8), known=known, suspect=observed == 0)
    verified = observed == 2
    expected = VERIFIED_TERM[name](logits.detach())[verified] * weights[1][verified]
    torch.testing.assert_close(terms.detach()[verified], expected, rtol=1e-12, atol=1e-12)
    if name in ("ll-r", "ll-ct", "splc", "wan", "hill", "soft-bce", "weak-soft-bce"):  # they do act on zeros
        everything_suspect = crit(logits, targets, given, index=torch.arange(8), known=known)
        assert not torch.allclose(everything_suspect.detach()[verified], expected)


@pytest.mark.parametrize("name", ["epr", "role"])
def test_epr_and_role_fit_a_verified_negative_to_the_label_zero(name):
    """EPR and ROLE have no term for assumed negatives; a verified negative is a known label and gets one, as Cole
    et al.'s ``iu`` loss gives an observed negative: ``w (-log(1 - σ(z)))`` (ROLE: half of it for the classifier and
    half for the label estimate, as for the positives)."""
    logits, targets, weights, known, observed = _batch(seed=4)
    crit = _make(name, observed, reduction="none")
    combined = LF.entry_weight(targets, weights)
    index = torch.arange(8)
    with_verified = crit(logits, targets, combined, index=index, known=known, suspect=observed == 0).detach()
    without = crit(logits, targets, combined, index=index, known=known).detach()
    verified = observed == 2
    added = F.softplus(logits.detach())
    if name == "role":
        theta = crit.label_logits.detach()[index]
        added = 0.5 * (added + F.softplus(theta))
        torch.testing.assert_close(torch.sigmoid(theta)[verified], torch.full((int(verified.sum()),), 0.005,
                                                                           dtype=theta.dtype))  # as theirs
    torch.testing.assert_close((with_verified - without)[verified], (added * combined)[verified])
    torch.testing.assert_close((with_verified - without)[~verified], torch.zeros_like(without)[~verified])


def test_large_loss_never_picks_a_verified_negative_even_at_rate_one():
    logits, targets, weights, known, observed = _batch(seed=5)
    w = LF.entry_weight(targets, weights)
    picked_all = LF.large_loss_mask(logits, targets, 1.0, candidates=w != 0)
    assert picked_all[observed == 2].all()  # without the mask they would all go
    value = LF.large_loss(logits, targets, w, rate=1.0, suspect=observed == 0, reduction="none")
    torch.testing.assert_close(value.detach()[observed == 2], (F.softplus(logits) * w).detach()[observed == 2])
    assert torch.all(value.detach()[observed == 0] == 0)  # every suspect zero rejected


def test_suspect_must_have_the_targets_shape():
    logits, targets, weights, _, observed = _batch()
    with pytest.raises(MLMLError, match="'suspect' has shape"):
        LF.wan(logits, targets, weights, suspect=(observed == 0)[:, :2])


# ---------------------------------------------------------------------------------------------- CSL
def ref_csl(logits, targets, prior, *, clip, gamma_pos, gamma_neg, gamma_unann, likelihood_topk, prior_threshold,
            alpha_pos=1.0, alpha_neg=1.0, alpha_unann=1.0):
    """A literal port of the authors' ``PartialSelectiveLoss.forward`` in ``selective`` mode (targets 1 / 0 /
    -1: positive, annotated negative, un-annotated), on the CPU, without the in-place operations."""
    targets_pos = (targets == 1).to(logits.dtype)
    targets_neg = (targets == 0).to(logits.dtype)
    targets_unann = (targets == -1).to(logits.dtype)
    xs_pos = torch.sigmoid(logits)
    xs_neg = 1.0 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    # edit_targets_parital_labels, mode 'selective'
    targets_weights = torch.ones(targets.shape, dtype=logits.dtype)
    num_top_k = likelihood_topk * targets_weights.shape[0]
    if prior is not None and prior_threshold:
        idx_ignore = torch.where(prior > prior_threshold)[0]
        targets_weights[:, idx_ignore] = 0
        targets_weights += (targets != -1).to(logits.dtype)
        targets_weights = targets_weights.bool()
    with torch.no_grad():  # negative_backprop_fun_jit
        cond_flatten = torch.where(targets.flatten() == -1)[0]
        ind_class_sort = torch.argsort(xs_neg.detach().flatten()[cond_flatten])
        targets_weights.view(-1)[cond_flatten[ind_class_sort[:num_top_k]]] = 0
    bce_pos = alpha_pos * targets_pos * torch.log(torch.clamp(xs_pos, min=1e-8))
    bce_neg = alpha_neg * targets_neg * torch.log(torch.clamp(xs_neg, min=1e-8))
    bce_unann = alpha_unann * targets_unann * torch.log(torch.clamp(xs_neg, min=1e-8))
    loss = bce_pos + bce_neg + bce_unann
    with torch.no_grad():
        asymmetric_w = torch.pow(1 - xs_pos * targets_pos - xs_neg * (targets_neg + targets_unann),
                                 gamma_pos * targets_pos + gamma_neg * targets_neg + gamma_unann * targets_unann)
    loss = loss * asymmetric_w
    loss = loss * targets_weights
    return -loss.sum()


def _csl_batch(seed: int, n: int = 10, c: int = 7):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g, dtype=torch.float64) * 3.0).requires_grad_(True)
    u = torch.rand(n, c, generator=g)
    authors = torch.where(u < 0.25, 1, torch.where(u < 0.5, 0, -1))  # their encoding
    prior = torch.rand(c, generator=g, dtype=torch.float64)
    return logits, authors, prior


@pytest.mark.parametrize("params", [
    dict(clip=0.0, gamma_pos=0.0, gamma_neg=1.0, gamma_unann=4.0, likelihood_topk=1, prior_threshold=0.5),  # README
    dict(clip=0.0, gamma_pos=0.0, gamma_neg=1.0, gamma_unann=2.0, likelihood_topk=1, prior_threshold=0.05),  # train.py
    dict(clip=0.05, gamma_pos=1.0, gamma_neg=3.0, gamma_unann=4.0, likelihood_topk=2, prior_threshold=0.7),
    dict(clip=0.0, gamma_pos=0.0, gamma_neg=1.0, gamma_unann=4.0, likelihood_topk=0, prior_threshold=None),
    dict(clip=0.0, gamma_pos=0.0, gamma_neg=0.0, gamma_unann=0.0, likelihood_topk=100, prior_threshold=0.5),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_csl_matches_the_authors_formula(params, seed):
    logits, authors, prior = _csl_batch(seed)
    expected = ref_csl(logits, authors, prior, **params)
    (g_expected,) = torch.autograd.grad(expected, logits)
    ours = LF.csl(logits, (authors == 1).double(), reduction="sum", unannotated=authors == -1, prior=prior, **params)
    (g_ours,) = torch.autograd.grad(ours, logits)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(g_ours, g_expected, rtol=0, atol=1e-12)
    mean = LF.csl(logits, (authors == 1).double(), unannotated=authors == -1, prior=prior, **params)
    torch.testing.assert_close(mean * logits.numel(), ours)


def test_csl_selection_rule():
    logits = torch.tensor([[3.0, -1.0, 0.5, -2.0], [1.0, 2.0, -0.5, 0.0]])
    unannotated = torch.tensor([[True, True, False, True], [False, True, True, True]])
    prior = torch.tensor([0.1, 0.9, 0.2, 0.3])
    ignored = LF.csl_ignored(logits, unannotated, prior=prior, prior_threshold=0.5, likelihood_topk=1)
    # class 1 is likely present: its un-annotated entries go; then the 2 likeliest un-annotated (3.0 and 2.0)
    assert ignored.tolist() == [[True, True, False, False], [False, True, False, False]]
    everything = LF.csl_ignored(logits, unannotated, prior=None, likelihood_topk=10)
    assert torch.equal(everything, unannotated)  # k beyond the candidates: every un-annotated entry


def test_csl_module_reads_unknown_entries_and_treats_suspect_zeros_as_unannotated():
    """The trainer's batch: unknown (-1) entries arrive with weight 0 and ``known`` False; CSL gives them weight 1
    and trains them selectively, like suspect zeros; verified negatives are its annotated negatives."""
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64)
    observed = torch.tensor([[1, 0, 2, -1, 2], [2, -1, 1, 0, -1], [0, 2, -1, 1, 2],
                             [-1, 1, 0, 2, 0], [2, 2, -1, -1, 1], [1, -1, 0, 2, -1]], dtype=torch.int8)
    targets = (observed == 1).double()
    known = observed != -1
    weights = known.double()  # what the ones estimator gives
    crit = CSL(prior=[0.1, 0.6, 0.2, 0.3, 0.9], likelihood_topk=1).double()
    crit.setup(observed.numpy())
    ours = crit(logits, targets, weights, known=known, suspect=observed == 0)
    authors = torch.where(observed == 1, 1, torch.where(observed == 2, 0, -1))  # suspect zeros: un-annotated
    expected = ref_csl(logits, authors, torch.tensor(crit.prior, dtype=torch.float64), clip=0.0, gamma_pos=0.0,
                       gamma_neg=1.0, gamma_unann=4.0, likelihood_topk=1, prior_threshold=0.5)
    torch.testing.assert_close(ours * logits.numel(), expected, rtol=0, atol=1e-12)


def test_csl_prior_sources_and_errors():
    observed = np.array([[1, 2, -1], [2, 1, -1], [1, -1, 2], [-1, 2, -1]], dtype=np.int8)
    np.testing.assert_allclose(annotated_prior(observed), [2 / 3, 1 / 3, 0.0])
    crit = CSL(prior="annotated")
    crit.setup(observed)
    np.testing.assert_allclose(crit.class_prior.numpy(), [2 / 3, 1 / 3, 0.0], rtol=1e-6)
    assert not crit.needs_class_prior and CSL().needs_class_prior
    waiting = CSL()
    waiting.setup(observed)
    with pytest.raises(MLMLError, match="no class prior yet"):
        waiting(torch.zeros(4, 3), torch.zeros(4, 3))
    waiting.set_class_prior(np.array([0.2, 0.4, 0.6]))
    state = waiting.state_dict()
    again = CSL()
    again.load_state_dict(state)  # a checkpoint keeps the prior
    np.testing.assert_allclose(again.class_prior.numpy(), [0.2, 0.4, 0.6], rtol=1e-6)
    with pytest.raises(MLMLError, match="'prior' parameter of CSL"):
        CSL(prior="model")
    with pytest.raises(MLMLError, match="has 2 values"):
        CSL(prior=[0.1, 0.2]).setup(observed)
    with pytest.raises(MLMLError, match="probabilities"):
        waiting.set_class_prior(np.array([0.2, 1.5, 0.1]))
    with pytest.raises(MLMLError, match="both an annotated positive"):
        LF.csl(torch.zeros(1, 2), torch.ones(1, 2), unannotated=torch.ones(1, 2, dtype=torch.bool))
