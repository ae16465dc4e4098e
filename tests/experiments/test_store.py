import multiprocessing
import sqlite3

import pytest

from mlml.exceptions import DataError, MLMLError
from mlml.experiments import GridConfig, ResultStore, grid_trials, load_config


def _record(i: int, status: str = "done") -> dict:
    return {"trial_id": f"t{i}", "dataset": "yeast", "method": "bce", "ratio": 0.5, "fold": i % 4, "seed": 0,
            "status": status, "config_hash": "h", "metrics": {"map": i / 100}}


def _write_many(path, start, count):
    store = ResultStore(path)
    for i in range(start, start + count):
        store.put(_record(i))


def test_store_round_trip_and_resume_set(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.put(_record(1))
    store.put(_record(2, status="failed"))
    assert store.finished_ids() == {"t1"}  # failed trials run again
    store.put(_record(2))
    assert store.finished_ids() == {"t1", "t2"}
    assert [r["metrics"]["map"] for r in ResultStore(tmp_path / "r.sqlite").records()] == [0.01, 0.02]


def test_concurrent_writers_never_corrupt_the_store(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultStore(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(path, k * 40, 40)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert len(ResultStore(path).records()) == 160
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_store_rejects_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_text("not a database")
    with pytest.raises(DataError, match="not a usable SQLite database"):
        ResultStore(path)


def test_grid_config_defaults_and_trial_ids():
    config = GridConfig().validate()
    trials = grid_trials(config)
    assert len(trials) == 48  # 4 ratios x 3 methods x 4 folds x 1 seed
    assert len({t.trial_id for t in trials}) == 48
    assert [t.trial_id for t in grid_trials(GridConfig().validate())] == [t.trial_id for t in trials]
    changed = GridConfig(train={"epochs": 3}).validate()
    assert not {t.trial_id for t in grid_trials(changed)} & {t.trial_id for t in trials}


def test_load_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("ratios: [0, 0.75]\nmethods: [bce, cb-wce]\nfolds: 3\ntrain: {epochs: 5}\n")
    config = load_config(path, folds=2)
    assert config.ratios == [0.0, 0.75] and config.methods == ["bce", "cb-wce"] and config.folds == 2
    assert config.train == {"epochs": 5}
    path.write_text("ratio: [0.5]\n")
    with pytest.raises(MLMLError, match="Unknown grid config key.*ratio"):
        load_config(path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"methods": ["nope"]}, "Unknown method 'nope'. Valid names: .*bce"),
        ({"ratios": [1.5]}, "'ratios' parameter of the grid config must be a float in \\[0, 1\\]. Got 1.5"),
        ({"folds": 1}, "'folds' parameter .* must be an int >= 2"),
        ({"weights_source": "all"}, "'weights_source' parameter .* must be one of"),
        ({"train": {"seed": 3}}, "must not set 'seed'"),
        ({"train": {"epochz": 3}}, "Unknown TrainConfig field.*epochz"),
        ({"train": {"epochs": 0}}, "'epochs' parameter of TrainConfig"),
    ],
)
def test_grid_config_errors(overrides, message):
    with pytest.raises(MLMLError, match=message):
        load_config(None, **overrides)


def test_methods_all_expands_to_every_registered_method_but_aliases():
    from mlml.methods import METHODS

    methods = load_config(None, methods=["all"]).methods
    assert "an" not in methods and "bce" in methods  # an is an alias of bce: trained once
    assert methods == [n for n in METHODS.names() if n != "an"]


def test_a_trial_id_changes_with_the_method_definition_the_data_and_the_version(monkeypatch):
    import mlml

    base = load_config(None, methods=["bce", "epr"])
    ids = {(t.method, t.ratio, t.fold): t.trial_id for t in grid_trials(base)}
    tuned = load_config(None, methods=["bce", "epr"], method_params={"epr": {"expected_positives": 2.9}})
    for trial in grid_trials(tuned):  # only the method whose definition changed gets new ids
        assert (trial.trial_id == ids[(trial.method, trial.ratio, trial.fold)]) == (trial.method == "bce")
    other_data = grid_trials(base, {"yeast": "0123456789abcdef"})
    assert not {t.trial_id for t in other_data} & set(ids.values())
    monkeypatch.setattr(mlml, "__version__", "99.0")
    assert not {t.trial_id for t in grid_trials(base)} & set(ids.values())


def test_method_variants_and_parameters_in_the_grid_config(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("methods: [epr, {name: epr-k3, method: epr, params: {expected_positives: 3}}]\n"
                    "method_params: {epr: {lam: 0.5}}\n")
    methods = load_config(path, method_params={"epr": {"expected_positives": 2.0}}).resolved_methods()
    assert methods["epr"].loss_kwargs == {"lam": 0.5, "expected_positives": 2.0}
    assert methods["epr-k3"].loss_kwargs == {"expected_positives": 3}
    with pytest.raises(MLMLError, match="'method_params' of the grid config names 'bce'"):
        load_config(None, methods=["epr"], method_params={"bce": {}})
    with pytest.raises(MLMLError, match="lists 'epr' twice"):
        load_config(None, methods=["epr", {"name": "epr", "params": {"lam": 2}}])


def test_data_fingerprint_follows_the_data(tmp_path):
    from mlml.data import load
    from mlml.experiments.trials import data_fingerprint

    labels = tmp_path / "l.csv"
    labels.write_text("id,a,b\ns0,1,0\ns1,0,1\n")
    first = data_fingerprint(load(f"csv:{labels}"))
    assert data_fingerprint(load(f"csv:{labels}")) == first
    labels.write_text("id,a,b\ns0,1,1\ns1,0,1\n")
    assert data_fingerprint(load(f"csv:{labels}")) != first


def test_rerunning_with_other_method_parameters_never_keeps_stale_results(tmp_path):
    import mlml
    from mlml.experiments import run_grid
    from mlml.experiments.runner import grid_records

    run_dir = tmp_path / "run"
    grid = dict(methods=["epr"], ratios=[0.5], folds=2, train={"epochs": 1})
    first = run_grid(load_config(None, method_params={"epr": {"expected_positives": 1.0}}, **grid), run_dir,
                     progress=False)
    config = load_config(None, method_params={"epr": {"expected_positives": 5.0}}, **grid)
    second = run_grid(config, run_dir, progress=False)
    assert len(ResultStore(run_dir / "results.sqlite").records()) == 4  # the new definition ran; nothing reused
    assert {r["trial_id"] for r in first}.isdisjoint(r["trial_id"] for r in second)
    for record in grid_records(config, ResultStore(run_dir / "results.sqlite")):
        assert record["method_definition"]["loss_kwargs"] == {"expected_positives": 5.0}
        assert record["versions"]["mlml"] == mlml.__version__ and record["versions"]["torch"]
        assert record["recipe"] == "default"
