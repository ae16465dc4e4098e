"""``auto``: train a small fixed set of diverse candidates on one fold, choose the method and its threshold policy
from the validation rows' observed labels alone, and return a normal trained model.

:func:`fit_auto` does, in order (every step reads the training rows' and the validation rows' OBSERVED labels;
nothing reads a hidden mask or a test label):

1. **re-hide** (:func:`mlml.auto.criteria.rehide`): a further share of the validation rows' observed positives is
   hidden with the fold's own scheme, BEFORE training: every candidate early-stops on these re-hidden labels (it
   never trains on validation rows), so the re-hidden positives are zeros to it, as missing positives are;
2. **train** every candidate (:meth:`AutoMethod.candidate_names`) on the training rows, validation = the re-hidden
   validation rows: frozen-feature heads in ONE pass over the same batches (:func:`mlml.training.one_pass.fit_heads`,
   bitwise the same models as one :func:`mlml.training.fit` each), otherwise one ``fit`` each; this under each of
   the method's ``seeds`` training seeds, a candidate being the bag (probability average) of its seeds' models;
3. **score** each candidate's validation probabilities by every criterion of :mod:`mlml.auto.criteria`, and choose
   its threshold policy (:mod:`mlml.evaluation.policies`) by two-fold cross-fitting on the validation rows: each
   policy is fitted on one half (observed labels; the posterior of their zeros from an estimator fitted on the
   training rows) and decides the other half, and the pooled decisions are scored by Lee & Liu's ``r² / P(ŷ = 1)``
   on the observed labels -- a criterion that does not count a predicted missing positive as a false positive;
4. **choose** (``combine >= 1``) the candidate with the best value of the criterion; **combine**: the probability
   average of the best ``k`` (``k = 2 .. combine``) is scored the same way, and replaces the single best when its
   criterion is higher. The default, ``combine=0``, averages every candidate: on the development subset no
   criterion ordered the candidates reliably (Kendall τ 0.16-0.29 with the test order) and the average of all had
   the smallest regret (docs/auto.md). Averages are frozen-features only: the members share the training rows'
   standardisation and become one ``average`` head;
5. the decision is the method's ``policy`` (default ``select``, which also reads the training rows' diagnosed
   missing share; ``choose``: the one of step 3) fitted on ALL validation rows with their observed labels
   (:meth:`~mlml.training.TrainResult.decide`); the record of what was chosen and why is ``result.auto_choice``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.auto.criteria import CRITERIA, candidate_criteria, lee_liu, rehide
from mlml.auto.method import AutoMethod, resolve_method
from mlml.exceptions import MLMLError
from mlml.labels import to_dense
from mlml.training.saved import TrainResult

logger = logging.getLogger("mlml.auto")


@dataclass
class AutoResult(TrainResult):
    """A :class:`~mlml.training.TrainResult` of the chosen model (or average), plus ``auto_choice``: what was
    chosen and why (saved in ``model.json``)."""

    auto_choice: dict[str, Any] = field(default_factory=dict)

    def _extra_meta(self) -> dict[str, Any]:
        return {**super()._extra_meta(), "auto_choice": self.auto_choice}


@dataclass
class Selection:
    """What the criteria read on one fold's validation rows (see :func:`prepare_selection`)."""

    observed: np.ndarray  # the validation rows' observed labels (dense int8)
    rehidden: np.ndarray  # the same after re-hiding: what the candidates early-stop on
    mask: np.ndarray  # the re-hidden positives
    q_soft: np.ndarray  # posterior of the observed zeros (co-occurrence, labels only): soft-map
    q_policy: np.ndarray  # posterior of the observed zeros for the soft threshold policies
    halves: tuple[np.ndarray, np.ndarray]  # the two-fold split of the validation rows for policy cross-fitting


def prepare_selection(fold: Any, method: AutoMethod, seed: int) -> Selection:
    """Re-hide, posteriors and the policy halves of ``fold``'s validation rows (seeded by ``seed``)."""
    from mlml.service import decision_posterior

    if not len(fold.val):
        raise MLMLError("auto chooses on validation rows: train it with val_fraction > 0.")
    observed = to_dense(fold.observed_val).astype(np.int8)
    rehidden, mask = rehide(observed, method.rehide, scheme=fold.scheme,
                            random_state=np.random.SeedSequence([seed, 0xA070]))
    q_soft = decision_posterior(fold, estimator="pairwise-noisy-or")  # co-occurrence, labels only
    q_policy = decision_posterior(fold, estimator="knn")  # the k-NN posterior where there are features
    order = np.random.default_rng(np.random.SeedSequence([seed, 0xA071])).permutation(len(fold.val))
    half = len(order) // 2
    return Selection(observed, rehidden, mask, q_soft, q_policy, (np.sort(order[:half]), np.sort(order[half:])))


def train_candidates(fold: Any, config: Any, method: AutoMethod, selection: Selection) -> dict[str, TrainResult]:
    """Every candidate trained on ``fold``'s training rows, early-stopping on the re-hidden validation rows, once
    per training seed (``method.seeds``: ``config.seed``, then seeds drawn from it); a candidate trained under
    several seeds is their *bag*: one model whose ``average`` head holds every seed's head, its validation
    probabilities their mean. Fine-tuned models share no head to average: they train under ``config.seed`` only. A
    candidate that fails is skipped with a warning (under any seed: it is left out); none left raises."""
    rounds = [_train_round(fold, replace(config, seed=seed), method, selection)
              for seed in training_seeds(config.seed, bag_size(config, method))]
    if len(rounds) == 1:
        return rounds[0]
    names = [name for name in rounds[0] if all(name in r for r in rounds)]
    if not names:
        raise MLMLError("auto: every candidate failed to train under some seed.")
    return {name: _average([r[name] for r in rounds], config) for name in names}


def bag_size(config: Any, method: AutoMethod) -> int:
    """How many training seeds each candidate is trained under: ``method.seeds`` with frozen features, else 1."""
    return method.seeds if config.mode == "frozen" else 1


def training_seeds(seed: int, n: int) -> list[int]:
    """``n`` training seeds: ``seed`` itself (so that one seed trains what it always did), then seeds drawn from
    ``(seed, k)`` -- not ``seed + k``, which runs of neighbouring seeds would share."""
    return [seed] + [int(np.random.SeedSequence([seed, k]).generate_state(1)[0]) for k in range(1, n)]


def _train_round(fold: Any, config: Any, method: AutoMethod, selection: Selection) -> dict[str, TrainResult]:
    """Every candidate under one training seed (``config.seed``): in one pass where possible."""
    from mlml.training import fit
    from mlml.training.one_pass import fit_heads, one_pass_supported

    train = fold.observed_train
    partial = bool(((train.data if sp.issparse(train) else train) == -1).any())
    names = method.candidate_names(partial=partial)
    if one_pass_supported(config):  # frozen heads: every candidate over the same batches at once
        try:
            results = fit_heads(fold.train_inputs, fold.observed_train, {n: method.candidate(n) for n in names},
                                config, validation=(fold.val_inputs, selection.rehidden))
        except MLMLError as exc:  # one candidate's failure: train them one by one to leave out only it
            logger.info("auto: one pass failed (%s); training the candidates one by one", exc)
        else:
            logger.info("auto: trained %s in one pass (seed %d; %s epochs)", ", ".join(results), config.seed,
                        ", ".join(str(len(r.history)) for r in results.values()))
            return results
    results = {}
    for name in names:
        try:
            results[name] = fit(fold.train_inputs, fold.observed_train, method.candidate(name), config,
                                validation=(fold.val_inputs, selection.rehidden))
        except MLMLError as exc:
            warnings.warn(f"auto: the candidate {name!r} failed and is left out: {exc}", stacklevel=2)
            continue
        logger.info("auto: trained %s (seed %d; %d epochs)", name, config.seed, len(results[name].history))
    if not results:
        raise MLMLError("auto: every candidate failed to train.")
    return results


def choose_policy(scores: np.ndarray, selection: Selection) -> tuple[str, dict[str, float], np.ndarray]:
    """The threshold policy whose cross-fitted decisions score best by Lee & Liu's criterion on the observed labels
    (see the module docstring): ``(policy, value per policy, pooled decisions of the chosen one)``. Ties go to the
    earlier policy of :data:`~mlml.evaluation.policies.BASE_POLICIES`."""
    from mlml.evaluation import UndefinedMetricWarning
    from mlml.evaluation.policies import BASE_POLICIES, fit_policies

    y, q = selection.observed, selection.q_policy
    decided = {p: np.zeros(y.shape, dtype=np.int8) for p in BASE_POLICIES}
    a, b = selection.halves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for fit_rows, apply_rows in ((a, b), (b, a)):
            if not len(fit_rows) or not len(apply_rows):
                continue
            policies = fit_policies(BASE_POLICIES, scores[fit_rows], y[fit_rows], q=q[fit_rows])
            for name, decision in policies.items():
                decided[name][apply_rows] = decision.predict(scores[apply_rows])
    values = {p: lee_liu(decided[p], y) for p in BASE_POLICIES}
    best = max(BASE_POLICIES, key=lambda p: (np.nan_to_num(values[p], nan=-np.inf), -BASE_POLICIES.index(p)))
    return best, values, decided[best]


def score_entry(scores: np.ndarray, selection: Selection) -> dict[str, Any]:
    """Every criterion of one candidate (or average) and its chosen policy."""
    policy, policy_values, decisions = choose_policy(scores, selection)
    criteria = candidate_criteria(scores, selection.observed, q=selection.q_soft, rehidden=selection.rehidden,
                                  mask=selection.mask, decisions=decisions)
    return {"criteria": criteria, "policy": policy, "policy_values": policy_values}


def rank_key(value: float) -> float:
    """A criterion's value for ordering: NaN last."""
    return -np.inf if value is None or not np.isfinite(value) else float(value)


def choose(scored: dict[str, dict[str, Any]], val_proba: dict[str, np.ndarray], criterion: str, combine: int,
           selection: Selection) -> tuple[list[str], dict[str, Any]]:
    """The chosen members (one candidate, the best ``k`` averaged, or every candidate for ``combine=0``) and their
    entry of :func:`score_entry`. ``scored``: the candidates' entries; ``val_proba``: their validation
    probabilities. Ties keep the candidate order."""
    if criterion not in CRITERIA:
        raise MLMLError(f"Unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}.")
    names = list(scored)
    if combine == 0:
        if len(names) == 1:
            return names, scored[names[0]]
        return names, score_entry(np.mean([val_proba[n] for n in names], axis=0), selection)
    ranked = sorted(names, key=lambda n: (-rank_key(scored[n]["criteria"][criterion]), names.index(n)))
    members, entry = ranked[:1], scored[ranked[0]]
    for k in range(2, min(combine, len(ranked)) + 1):
        average = np.mean([val_proba[n] for n in ranked[:k]], axis=0)
        candidate = score_entry(average, selection)
        if rank_key(candidate["criteria"][criterion]) > rank_key(entry["criteria"][criterion]):
            members, entry = ranked[:k], candidate
    return members, entry


def fit_auto(fold: Any, config: Any = None, method: AutoMethod | str = "auto") -> AutoResult:
    """Train ``method``'s candidates on ``fold`` and return the chosen model (see the module docstring).

    Args:
        fold: a :class:`~mlml.folds.Fold` (:func:`mlml.folds.make_fold`) with validation rows.
        config: the :class:`~mlml.training.TrainConfig` every candidate trains with.
        method: an :class:`AutoMethod` (or ``"auto"``: the defaults).

    Returns:
        An :class:`AutoResult`: the chosen candidate's model (or an ``average`` head of the chosen ones) with its
        chosen threshold policy fitted on the validation rows as its ``decision``; ``auto_choice`` holds the
        choice, the criterion, every candidate's criterion values and policy, and the cost.

    Raises:
        MLMLError: no validation rows, an unknown candidate or criterion, every candidate failing.
    """
    from mlml.evaluation.policies import SOFT_POLICIES
    from mlml.service import fold_missing_share
    from mlml.training import TrainConfig

    config = config if config is not None else TrainConfig()
    method = resolve_method(method) if isinstance(method, str) else method
    if not isinstance(method, AutoMethod):
        raise MLMLError(f"fit_auto trains the 'auto' method; got {getattr(method, 'name', method)!r}.")
    selection = prepare_selection(fold, method, config.seed)
    results = train_candidates(fold, config, method, selection)
    val_proba = {name: np.asarray(r.val_proba, dtype=np.float64) for name, r in results.items()}
    scored = {name: score_entry(val_proba[name], selection) for name in results}
    combine = method.combine if config.mode == "frozen" else 1  # fine-tuned models share no head to average
    members, entry = choose(scored, val_proba, method.criterion, combine, selection)
    policy = entry["policy"] if method.policy == "choose" else method.policy
    result = results[members[0]] if len(members) == 1 else _average([results[n] for n in members], config)
    seeds = bag_size(config, method)
    choice = {
        "chosen": members[0] if len(members) == 1 else "average(" + ",".join(members) + ")",
        "members": members, "combine": method.combine, "criterion": method.criterion,
        "value": entry["criteria"][method.criterion],
        "policy": policy, "policy_rule": method.policy, "policy_values": entry["policy_values"],
        "candidates": {name: {"criteria": s["criteria"], "policy": s["policy"], "epochs": len(results[name].history)}
                       for name, s in scored.items()},
        "rehidden_positives": int(selection.mask.sum()), "seeds": seeds, "cost_trainings": len(results) * seeds,
    }
    auto = AutoResult(**{f.name: getattr(result, f.name) for f in fields(TrainResult)}, auto_choice=choice)
    auto.method = method.name
    auto.val_observed = selection.observed
    auto.val_proba = np.mean([val_proba[n] for n in members], axis=0).astype(np.float32)
    auto.decide(policy, q=selection.q_policy if policy in SOFT_POLICIES else None,
                missing_share=fold_missing_share(fold) if policy == "select" else None)
    choice["policy"] = auto.decision["policy"] if auto.decision else policy  # what ``select`` resolved to
    logger.info("auto: chose %s (%s %.4f), policy %s", choice["chosen"], method.criterion, choice["value"], policy)
    return auto


def _average(members: list[TrainResult], config: Any) -> TrainResult:
    """One model whose ``average`` head holds every head of ``members`` (a member that is itself an average gives
    its own members: the probabilities of every head are averaged with equal weight); its validation probabilities
    the same average. Frozen mode: the members share the training rows' standardisation."""
    from mlml.models.heads import AverageHead
    from mlml.training.model import build_model, unwrap

    heads = []
    for r in members:
        head = unwrap(r.model).head
        heads += list(head.members) if isinstance(head, AverageHead) else [head]
    first = members[0]
    averaged = replace(config, head="average", head_kwargs={"n_members": len(heads), "head": config.head,
                                                            "head_kwargs": dict(config.head_kwargs)})
    model = build_model(averaged, first.in_features, first.n_labels, pretrained=False)
    model.standardize.load_state_dict(unwrap(first.model).standardize.state_dict())
    for slot, head in zip(model.head.members, heads):
        slot.load_state_dict(head.state_dict())
    model.to(first.device).eval()
    val_proba = np.mean([np.asarray(r.val_proba, dtype=np.float64) for r in members], axis=0).astype(np.float32)
    return replace(first, model=model, config=averaged, history=list(first.history), val_proba=val_proba)
