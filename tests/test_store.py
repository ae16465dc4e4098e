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
    from mlml.losses import METHODS

    methods = load_config(None, methods=["all"]).methods
    assert "an" not in methods and "bce" in methods  # an is an alias of bce: trained once
    assert methods == [n for n in METHODS.names() if n != "an"]
