"""``mlml predict`` / ``mlml decide`` / ``evaluate --thresholds``: named predictions on samples without labels, and
decisions changed after training."""

import csv
import json

import numpy as np
import pytest

from mlml.cli import main
from mlml.evaluation import evaluate
from mlml.evaluation.policies import POLICIES
from mlml.exceptions import MLMLError
from mlml.predictions import Predictions, predict
from mlml.training.saved import load_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m"
    assert main(["train", "yeast", "--ratio", "0.5", "--epochs", "3", "--thresholds", "calibrated",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture
def samples(tmp_path, yeast):
    """200 unseen-looking samples: an ids-only labels file, a .npy in its order, and an id-keyed .npz shuffled."""
    rows = np.arange(100, 300)
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("id\n" + "\n".join(yeast.ids[rows]) + "\n")
    np.save(tmp_path / "X.npy", yeast.features[rows])
    order = np.random.default_rng(0).permutation(len(rows))
    np.savez(tmp_path / "X.npz", ids=yeast.ids[rows][order], features=yeast.features[rows][order])
    return rows, ids_file


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_predict_wide_csv_holds_ids_names_probabilities_and_the_models_decisions(tmp_path, model_dir, samples, yeast,
                                                                               capsys):
    rows, ids_file = samples
    out = tmp_path / "p.csv"
    assert main(["predict", str(model_dir), f"csv:{ids_file},{tmp_path / 'X.npy'}", "--out", str(out)]) == 0
    assert "200 samples x 14 labels" in capsys.readouterr().out
    table = _rows(out)
    model = load_model(model_dir)
    assert table[0] == ["id", "predicted", *yeast.label_names]
    assert [r[0] for r in table[1:]] == list(yeast.ids[rows])
    proba = model.predict_proba(yeast.features[rows])
    np.testing.assert_allclose(np.asarray([r[2:] for r in table[1:]], dtype=float), proba, rtol=1e-5, atol=1e-6)
    decided = model.predict(yeast.features[rows])
    names = np.asarray(yeast.label_names)
    assert [r[1] for r in table[1:]] == ["|".join(names[np.flatnonzero(d)]) for d in decided]
    assert model.decision["policy"] == "calibrated"


def test_predict_long_and_top_k_and_a_bare_npz_with_ids(tmp_path, model_dir, samples, yeast):
    rows, _ = samples
    model = load_model(model_dir)
    proba, decided = model.predict_proba(yeast.features[rows]), model.predict(yeast.features[rows])
    long_file, top_file = tmp_path / "long.csv", tmp_path / "top.csv"
    assert main(["predict", str(model_dir), str(tmp_path / "X.npz"), "--out", str(long_file), "--format", "long"]) == 0
    table = _rows(long_file)
    assert table[0] == ["id", "label", "probability", "decision"] and len(table) == 1 + 200 * 14
    position = {sample_id: i for i, sample_id in enumerate(yeast.ids[rows])}
    for sample_id, label, p, d in table[1:: 97]:  # the npz is shuffled: rows follow its ids
        i, j = position[sample_id], yeast.label_names.index(label)
        assert abs(float(p) - proba[i, j]) < 1e-5 and int(d) == decided[i, j]
    assert main(["predict", str(model_dir), str(tmp_path / "X.npz"), "--out", str(top_file), "--format", "long",
                 "--top-k", "3"]) == 0
    table = _rows(top_file)
    assert table[0] == ["id", "rank", "label", "probability", "decision"] and len(table) == 1 + 200 * 3
    first = [r for r in table[1:] if r[0] == yeast.ids[rows[0]]]
    best = np.argsort(-proba[0], kind="stable")[:3]
    assert [r[2] for r in first] == [yeast.label_names[j] for j in best]


def test_python_predict_returns_named_results(model_dir, samples, tmp_path, yeast):
    rows, ids_file = samples
    result = predict(model_dir, f"csv:{ids_file},{tmp_path / 'X.npy'}")
    assert isinstance(result, Predictions) and result.policy == "calibrated"
    assert list(result.ids) == list(yeast.ids[rows]) and result.label_names == yeast.label_names
    model = load_model(model_dir)
    np.testing.assert_array_equal(result.decisions, model.predict(yeast.features[rows]))
    assert result.predicted()[0] == [n for n, d in zip(yeast.label_names, result.decisions[0]) if d]
    top = result.top_k(2)[0]
    assert top[0][1] >= top[1][1] and top[0][0] == yeast.label_names[int(np.argmax(result.probabilities[0]))]
    # the in-memory table and the streamed file are the same rows
    result.to_csv(tmp_path / "a.csv")
    assert main(["predict", str(model_dir), f"csv:{ids_file},{tmp_path / 'X.npy'}", "--out",
                 str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_a_labelled_source_predicts_with_its_labels_ignored(tmp_path, model_dir):
    out = tmp_path / "p.csv"
    assert main(["predict", str(model_dir), "yeast", "--out", str(out), "--top-k", "1"]) == 0
    assert len(_rows(out)) == 1 + 2417


@pytest.mark.parametrize("argv, message", [
    (["--top-k", "0"], "expected a positive integer"),
    (["--format", "tall"], "invalid choice"),
    (["SRC=absent.npz"], "neither a data SOURCE nor an existing features file"),
    (["SRC=csv:dup.csv,X.npy"], "the id 'a' occurs more than once"),
    (["SRC=csv:ids.csv,short.npy"], "3 feature rows for 200 labelled samples"),
])
def test_predict_bad_input_is_one_line(tmp_path, monkeypatch, capsys, model_dir, samples, yeast, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dup.csv").write_text("id\na\na\n")
    np.save(tmp_path / "short.npy", yeast.features[:3])
    source = next((a[4:] for a in argv if a.startswith("SRC=")), "X.npz")
    flags = [a for a in argv if not a.startswith("SRC=")]
    assert main(["predict", str(model_dir), source, "--out", "p.csv", *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err), err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_every_policy_evaluate_matches_predict(tmp_path, yeast, capsys):
    """A model trained with each policy: ``evaluate`` scores exactly the decisions ``predict`` writes (the stored
    decision, per-sample policies included), and ``evaluate --thresholds P`` those of ``decide P``."""
    labels = yeast.labels
    for policy in POLICIES:
        out = tmp_path / policy
        assert main(["train", "yeast", "--ratio", "0.5", "--epochs", "2", "--thresholds", policy,
                     "--out", str(out)]) == 0
        metrics = tmp_path / f"{policy}.json"
        assert main(["evaluate", str(out), "yeast", "--out", str(metrics)]) == 0
        decided = predict(out, "yeast").decisions
        expected = evaluate(labels, decided.astype(float), threshold=0.5, ranking=False)
        got = json.loads(metrics.read_text())
        for key in ("micro_precision", "micro_recall", "micro_f1", "macro_f1"):
            assert got[key] == pytest.approx(expected[key], abs=1e-12), (policy, key)
    # refit after training: evaluate --thresholds P scores what decide P then predict gives
    base = tmp_path / "fixed"
    for policy in ("cardinality", "tuned"):  # the second refits over the first
        metrics, before = tmp_path / f"refit-{policy}.json", (base / "model.json").read_text()
        assert main(["evaluate", str(base), "yeast", "--thresholds", policy, "--out", str(metrics)]) == 0
        assert (base / "model.json").read_text() == before  # evaluate only scores; decide saves
        assert main(["decide", str(base), "--thresholds", policy]) == 0
        decided = predict(base, "yeast").decisions
        expected = evaluate(labels, decided.astype(float), threshold=0.5, ranking=False)
        assert json.loads(metrics.read_text())["micro_f1"] == pytest.approx(expected["micro_f1"], abs=1e-12)
    assert load_model(base).decision["policy"] == "tuned"


def test_own_says_what_it_resolved_to(tmp_path, model_dir, capsys):
    from mlml.methods import METHODS

    method = load_model(model_dir).method
    assert main(["evaluate", str(model_dir), "yeast", "--thresholds", "own"]) == 0
    policy = METHODS.get(method).threshold_policy
    assert f"the method {method!r} decides with its own policy {policy!r}" in capsys.readouterr().out


def test_decide_needs_the_validation_rows(tmp_path, model_dir, capsys):
    model = load_model(model_dir)
    model.val_q = None
    with pytest.raises(MLMLError, match="posterior of the validation rows"):
        model.decide("expected")
    model.val_proba = np.empty((0, 14), np.float32)
    with pytest.raises(MLMLError, match="needs the model's validation rows"):
        model.decide("tuned")


def test_a_bare_features_csv_with_any_id_column_name(tmp_path, model_dir, yeast):
    rows = np.arange(10)
    header = "sample," + ",".join(f"f{j}" for j in range(yeast.features.shape[1]))
    lines = [f"{yeast.ids[i]}," + ",".join(repr(float(v)) for v in yeast.features[i]) for i in rows[::-1]]
    (tmp_path / "X.csv").write_text(header + "\n" + "\n".join(lines) + "\n")
    result = predict(model_dir, str(tmp_path / "X.csv"))
    assert list(result.ids) == list(yeast.ids[rows[::-1]])
    np.testing.assert_allclose(result.probabilities, load_model(model_dir).predict_proba(yeast.features[rows[::-1]]),
                               rtol=1e-5, atol=1e-6)
