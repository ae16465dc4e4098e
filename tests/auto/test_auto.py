"""``auto`` (issue 21): the selection criteria against literal ports of their formulas, re-hiding before training,
the choice end to end, and the front ends (train, the grid, the scikit-learn estimator)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from mlml.auto import AutoMethod, fit_auto, resolve_method
from mlml.auto import criteria as C
from mlml.auto.method import DEFAULT_CANDIDATES, PARTIAL_CANDIDATES
from mlml.auto.select import prepare_selection
from mlml.exceptions import MLMLError
from mlml.folds import make_fold
from mlml.training import TrainConfig, load_model


def _labels(seed: int = 0, n: int = 120, c: int = 5):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, c)) < 0.35).astype(np.int8)
    truth[np.arange(n), rng.integers(0, c, n)] = 1
    scores = np.clip(0.6 * truth + 0.5 * rng.random((n, c)), 0, 1)
    return rng, truth, scores


# -- the criteria, each against a literal port of its formula ------------------------------------------------------

def test_observed_map_is_sklearns_mean_ap_over_defined_classes():
    rng, y, s = _labels()
    y[:, 4] = 0  # no positive: left out
    y[rng.random(y.shape) < 0.1] = -1
    expected = np.mean([average_precision_score(y[y[:, c] != -1, c] == 1, s[y[:, c] != -1, c]) for c in range(4)])
    assert C.observed_map(s, y) == pytest.approx(expected)


def test_pu_auc_is_sklearns_auc_and_menons_mixture_of_the_clean_auc():
    """AUC(observed positives vs the rest) = (n_N AUC(P vs N) + n_H AUC(P vs H)) / (n_N + n_H): the rest mixes the
    negatives N and the hidden positives H (Menon et al. 2015, Sec. 6) -- an identity, checked per class."""
    rng, truth, s = _labels(1, n=300)
    hidden = (truth == 1) & (rng.random(truth.shape) < 0.5)
    observed = np.where(hidden, 0, truth).astype(np.int8)
    per_class = []
    for c in range(truth.shape[1]):
        pu = roc_auc_score(observed[:, c] == 1, s[:, c])
        p = observed[:, c] == 1
        neg, hid = truth[:, c] == 0, hidden[:, c]
        auc_n = roc_auc_score(np.r_[np.ones(p.sum()), np.zeros(neg.sum())], np.r_[s[p, c], s[neg, c]])
        auc_h = roc_auc_score(np.r_[np.ones(p.sum()), np.zeros(hid.sum())], np.r_[s[p, c], s[hid, c]])
        assert pu == pytest.approx((neg.sum() * auc_n + hid.sum() * auc_h) / (neg.sum() + hid.sum()))
        per_class.append(pu)
    assert C.pu_auc(s, observed) == pytest.approx(np.mean(per_class))


def test_soft_map_is_ap_over_entries_duplicated_as_weighted_positives_and_negatives():
    rng, y, s = _labels(2)
    y[rng.random(y.shape) < 0.3] = 0
    q = rng.random(y.shape) * (y == 0)
    s[0, 0] = s[1, 0]  # a tie
    expected = []
    for c in range(y.shape[1]):
        t = np.where(y[:, c] == 1, 1.0, q[:, c])
        expected.append(average_precision_score(np.r_[np.ones(len(t)), np.zeros(len(t))], np.r_[s[:, c], s[:, c]],
                                                sample_weight=np.r_[t, 1 - t]))
    assert C.soft_map(s, y, q) == pytest.approx(np.mean(expected))
    assert C.soft_map(s, y, np.zeros(y.shape)) == pytest.approx(C.observed_map(s, y))


def test_lee_liu_is_recall_squared_over_the_predicted_positive_share():
    rng, y, s = _labels(3)
    y[0, 0] = -1
    d = (s >= 0.5).astype(np.int8)
    known = y != -1
    r = ((d == 1) & (y == 1)).sum() / (y == 1).sum()
    assert C.lee_liu(d, y) == pytest.approx(r * r / ((d == 1) & known).sum() * known.sum())
    assert C.lee_liu(np.zeros_like(d), y) == 0.0


def test_rehide_hides_observed_positives_only_seeded_and_partial_makes_them_unannotated():
    rng, y, _ = _labels(4)
    out, mask = C.rehide(y, 0.5, scheme="per-sample", random_state=0)
    assert (y[mask] == 1).all() and (out[mask] == 0).all() and (out[~mask] == y[~mask]).all()
    assert 0.35 < mask.sum() / (y == 1).sum() < 0.65
    again, mask2 = C.rehide(y, 0.5, scheme="per-sample", random_state=0)
    assert np.array_equal(out, again) and np.array_equal(mask, mask2)
    partial = np.where(y == 0, 2, y).astype(np.int8)
    out, mask = C.rehide(partial, 0.5, scheme="partial", random_state=0)
    assert mask.any() and (out[mask] == -1).all()
    with pytest.raises(MLMLError, match="'rehide'"):
        C.rehide(y, 1.0, scheme="uniform")


def test_rehide_scores_reward_ranking_the_rehidden_positives_first():
    rng, y, _ = _labels(5)
    out, mask = C.rehide(y, 0.5, scheme="uniform", random_state=1)
    perfect = mask + 0.1 * rng.random(y.shape) + (out == 1)
    ap, auc = C.rehide_scores(perfect, out, mask)
    assert ap == pytest.approx(1.0) and auc == pytest.approx(1.0)
    ap_bad, auc_bad = C.rehide_scores(-perfect, out, mask)
    assert ap_bad < 0.6 and auc_bad == pytest.approx(0.0)
    s = rng.random(y.shape)  # the literal definition: per class, AP / AUC of the re-hidden positives among zeros
    zero = out == 0
    classes = [c for c in range(y.shape[1]) if mask[:, c].any()]
    ap, auc = C.rehide_scores(s, out, mask)
    assert ap == pytest.approx(np.mean([average_precision_score(mask[zero[:, c], c], s[zero[:, c], c])
                                        for c in classes]))
    assert auc == pytest.approx(np.mean([roc_auc_score(mask[zero[:, c], c], s[zero[:, c], c]) for c in classes]))


def test_kendall_tau_matches_scipy_and_leaves_nan_out():
    from scipy.stats import kendalltau

    a, b = [0.1, 0.4, 0.3, 0.9], [1, 3, 2, 2.5]
    assert C.kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)
    assert C.kendall_tau([np.nan, *a], [5, *b]) == pytest.approx(kendalltau(a, b).statistic)
    assert np.isnan(C.kendall_tau([1, 1], [1, 2]))


# -- the method and its choice --------------------------------------------------------------------------------------

def _fold(n: int = 240, seed: int = 0, ratio: float = 0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, :4] + 0.3 * rng.normal(size=(n, 4)) > 0.3).astype(np.int8)
    data = SimpleNamespace(labels=y, features=x, image_paths=None, label_names=[f"c{i}" for i in range(4)])
    return make_fold(data, (np.arange(0, n - 60), np.arange(n - 60, n)), ratio=ratio, seed=seed, val_fraction=0.3)


CONFIG = dict(head="linear", epochs=4, num_threads=1, log=False)


def test_auto_method_parameters_are_checked():
    auto = resolve_method("auto")
    assert isinstance(auto, AutoMethod) and auto.candidate_names(partial=True) == PARTIAL_CANDIDATES
    assert auto.candidate_names(partial=False) == DEFAULT_CANDIDATES
    assert [m.name for m in auto.candidate_methods()] == list(dict.fromkeys(DEFAULT_CANDIDATES + PARTIAL_CANDIDATES))
    assert auto.with_params({"candidates": "bce, wan"}).candidates == ("bce", "wan") and auto.combine == 0
    for params, message in (({"criterion": "x"}, "'criterion'"), ({"combine": -1}, "'combine'"),
                            ({"policy": "x"}, "'policy'"),
                            ({"rehide": 1.0}, "'rehide'"), ({"lr": 1}, "no parameter 'lr'"),
                            ({"candidates": ["nope"]}, "nope"), ({"candidates": ["im-wce"]}, "oracle")):
        with pytest.raises(MLMLError, match=message):
            auto.with_params(params)
    with pytest.raises(MLMLError, match="no loss of its own"):
        auto.make_loss()
    assert auto.definition()["auto"]["criterion"] == auto.criterion


def test_candidates_early_stop_on_rehidden_labels_never_on_the_rehidden_positives(monkeypatch):
    from mlml.training.loop import _Run

    fold = _fold()
    method = resolve_method("auto").with_params({"candidates": ["bce", "wan"]})
    seen = []
    real = _Run.__init__

    def spy(self, inputs, observed, m, config, validation, *args):  # every training, one pass or one fit each
        seen.append((observed, validation[1]))
        real(self, inputs, observed, m, config, validation, *args)

    monkeypatch.setattr(_Run, "__init__", spy)
    result = fit_auto(fold, TrainConfig(**CONFIG), method)
    selection = prepare_selection(fold, method, 0)
    assert selection.mask.any() and len(seen) == 2 * method.seeds  # every candidate under every training seed
    for observed, val_labels in seen:
        assert observed.shape[0] == len(fold.train)  # the validation rows are never trained on
        assert np.array_equal(val_labels, selection.rehidden)
        assert (val_labels[selection.mask] == 0).all() and (fold.observed_val[selection.mask] == 1).all()
    assert np.array_equal(result.val_observed, fold.observed_val)  # the decision is fitted on the observed labels


def test_fit_auto_records_its_choice_and_saves_a_normal_model(tmp_path):
    fold = _fold(seed=1)
    method = resolve_method("auto").with_params({"candidates": ["bce", "wan", "asl"], "combine": 3,
                                                 "policy": "choose"})
    result = fit_auto(fold, TrainConfig(**CONFIG), method)
    choice = result.auto_choice
    assert set(choice["candidates"]) == {"bce", "wan", "asl"} and choice["cost_trainings"] == 3 * method.seeds
    best = max(v["criteria"][choice["criterion"]] for v in choice["candidates"].values())
    assert choice["value"] >= best  # the single best, or an average that beats it
    assert result.decision["policy"] == choice["policy"]
    again = fit_auto(fold, TrainConfig(**CONFIG), method)
    assert again.auto_choice == choice  # reproducible
    proba = result.predict_proba(fold.test_inputs)
    result.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(fold.test_inputs), proba, atol=1e-6)
    assert np.array_equal(loaded.predict(fold.test_inputs), result.predict(fold.test_inputs))
    assert json.loads((tmp_path / "m" / "model.json").read_text())["auto_choice"]["chosen"] == choice["chosen"]


def test_by_default_auto_averages_every_candidate_and_decides_by_select():
    from mlml.service import fold_missing_share

    fold = _fold(seed=2)
    result = fit_auto(fold, TrainConfig(**CONFIG), resolve_method("auto").with_params({"candidates": "bce,wan"}))
    choice = result.auto_choice
    assert choice["members"] == ["bce", "wan"] and choice["chosen"] == "average(bce,wan)"
    assert choice["policy_rule"] == "select" and choice["policy"] == result.decision["policy"]
    assert result.config.head == "average"
    assert result.missing_share == fold_missing_share(fold)  # kept with the model, for `mlml decide` later
    assert result.decision["info"]["select"]["missing_share"] == result.missing_share


def test_a_candidate_is_the_bag_of_its_seeds_and_an_average_of_bags_averages_every_head():
    from dataclasses import replace

    from mlml.auto.select import bag_size, train_candidates, training_seeds
    from mlml.training import fit

    fold = _fold(seed=3)
    method = resolve_method("auto").with_params({"candidates": "bce,wan", "seeds": 3})
    config = TrainConfig(**CONFIG)
    seeds = training_seeds(config.seed, 3)
    assert seeds[0] == config.seed and len(set(seeds)) == 3 and training_seeds(1, 2)[1] not in seeds
    selection = prepare_selection(fold, method, config.seed)
    bags = train_candidates(fold, config, method, selection)
    alone = [fit(fold.train_inputs, fold.observed_train, "wan", replace(config, seed=s),
                 validation=(fold.val_inputs, selection.rehidden)) for s in seeds]
    expected = np.mean([r.predict_proba(fold.test_inputs) for r in alone], axis=0)
    np.testing.assert_allclose(bags["wan"].predict_proba(fold.test_inputs), expected, atol=1e-5)
    np.testing.assert_allclose(bags["wan"].val_proba, np.mean([r.val_proba for r in alone], axis=0), atol=1e-6)
    result = fit_auto(fold, config, method)  # the average of two bags: one head per candidate and seed
    assert len(result.model.head.members) == 6 and result.auto_choice["cost_trainings"] == 6
    both = (bags["bce"].predict_proba(fold.test_inputs) + expected) / 2
    np.testing.assert_allclose(result.predict_proba(fold.test_inputs), both, atol=1e-5)
    with pytest.raises(MLMLError, match="'seeds'"):
        method.with_params({"seeds": 0})
    finetuned = TrainConfig(mode="finetune", backbone="efficientnet_lite0")
    assert bag_size(finetuned, method) == 1  # fine-tuned models share no head to average


def test_an_average_head_averages_the_members_probabilities():
    import torch

    from mlml.models.heads import create_head

    torch.manual_seed(0)
    head = create_head("average", 6, 3, n_members=3, head="linear")
    x = torch.randn(10, 6)
    expected = torch.stack([torch.sigmoid(m(x)) for m in head.members]).mean(0)
    torch.testing.assert_close(torch.sigmoid(head(x)), expected)
    with pytest.raises(MLMLError, match="another head"):
        create_head("average", 6, 3, head="average")


def test_the_grid_measures_autos_own_decision_as_chosen():
    from mlml.evaluation import evaluate
    from mlml.experiments.measures import policy_metrics

    fold = _fold(seed=4)
    result = fit_auto(fold, TrainConfig(**CONFIG), resolve_method("auto").with_params({"candidates": "bce,wan"}))
    scores = result.predict_proba(fold.test_inputs)
    out = policy_metrics(result, fold, scores, "pairwise-noisy-or", {}, None, chosen=True)
    own = evaluate(fold.test_labels, scores, threshold=result.decision_thresholds_for(scores), ranking=False)
    assert out["chosen"]["metrics"]["micro_f1"] == pytest.approx(own["micro_f1"])
    assert out["chosen"]["predicted"] == pytest.approx(result.predict(fold.test_inputs).sum(axis=1).mean())
    assert "chosen" not in policy_metrics(result, fold, scores, "pairwise-noisy-or", {}, None)


def test_fit_auto_needs_validation_rows():
    fold = _fold()
    fold.val = fold.val[:0]
    with pytest.raises(MLMLError, match="validation rows"):
        fit_auto(fold, TrainConfig(**CONFIG), "auto")


# -- the front ends -------------------------------------------------------------------------------------------------

def test_sklearn_auto_applies_its_chosen_policy():
    from mlml.sklearn import MissingLabelClassifier

    fold = _fold()
    x, y = fold.dataset.features, fold.dataset.labels
    clf = MissingLabelClassifier("auto", method_params={"candidates": ["bce", "wan"]}, thresholds="own",
                                 head="linear", epochs=3, num_threads=1).fit(x, y)
    assert clf.model_.decision["policy"] == clf.model_.auto_choice["policy"]
    assert np.array_equal(clf.predict(x), clf.model_.predict(x))


@pytest.mark.slow
def test_train_and_grid_with_auto(tmp_path, capsys):
    from mlml.cli import main

    model = tmp_path / "model"
    assert main(["train", "yeast", "--out", str(model), "--method", "auto", "--method-param",
                 "candidates=bce,wan", "--ratio", "0.5", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "-> average(bce,wan)" in out and "rehide-auc" in out
    meta = json.loads((model / "model.json").read_text())
    assert meta["method"] == "auto" and meta["decision"]["policy"] == meta["auto_choice"]["policy"]
    assert main(["evaluate", str(model), "yeast"]) == 0

    from mlml.experiments import ResultStore

    run = tmp_path / "run"
    assert main(["reproduce", "yeast", "--methods", "auto,bce", "--method-param", "auto:candidates=bce,wan",
                 "--ratios", "0.5", "--folds", "2", "--epochs", "2", "--out", str(run), "--no-progress",
                 "--thresholds", "own"]) == 0
    records = [r for r in ResultStore(run / "results.sqlite").records() if r["method"] == "auto"]
    assert len(records) == 2
    for r in records:
        assert r["own_policy"] == "chosen" and r["auto_choice"]["chosen"]
        assert set(r["metrics_policies"]["chosen"]) == set(r["metrics_policies"]["fixed"])
    assert "chosen (own)" in capsys.readouterr().out
