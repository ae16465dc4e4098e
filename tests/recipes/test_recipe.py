"""The seed code's recipe in one flag (issue 11, part 2)."""

import json

import numpy as np
import yaml

from mlml.cli import main
from mlml.experiments import load_config
from mlml.recipes import RECIPES, recipe_values
from mlml.weights import ESTIMATORS


def test_the_seed_recipe_is_the_seed_codes_training():
    train = recipe_values("seed")["train"]
    assert train == {"head": "seed-mlp", "optimizer": "adadelta", "lr": 0.1, "weight_decay": 0.0,
                     "lr_schedule": "none", "batch_size": 32, "epochs": 20, "fixed_epochs": True,
                     "val_fraction": 0.0, "standardize": False}
    assert recipe_values("seed")["positive_weights"] == "class-balance" and set(RECIPES) == {"default", "seed"}


def test_flags_and_files_override_the_recipe(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("recipe: seed\ntrain: {batch_size: 16}\n")
    config = load_config(path, train_overrides={"epochs": 2})
    assert config.recipe == "seed" and config.train["batch_size"] == 16 and config.train["epochs"] == 2
    assert config.train["optimizer"] == "adadelta"
    assert load_config(None).recipe == "default" and load_config(None).train == {}


def test_the_seed_recipe_multiplies_class_balance_into_every_paper_method():
    methods = load_config(None, recipe="seed").resolved_methods()
    assert [m.estimator for m in methods.values()] == ["product"] * 3
    factors = {name: m.estimator_kwargs["factors"] for name, m in methods.items()}
    assert factors == {"bce": [["ones", {}], ["class-balance", {}]],
                       "im-wce": [["ignore-missing", {}], ["class-balance", {}]],
                       "cb-wce": [["pattern", {}], ["class-balance", {}]]}
    assert methods["im-wce"].oracle and ESTIMATORS.create("product", factors=factors["im-wce"]).needs_hidden


def test_product_weights_are_the_seeds_class_balanced_eq3_weights(yeast):
    observed = yeast.labels[:600]
    pos, neg = ESTIMATORS.create("product", factors=["pattern", "class-balance"]).fit_transform(observed)
    counts = (observed == 1).sum(axis=0)
    seed_weights = np.clip(np.round(len(observed) / (2.0 * counts)), 1, 10)  # the seed's formula, literally
    np.testing.assert_array_equal(pos, np.tile(seed_weights, (len(observed), 1)))
    np.testing.assert_array_equal(neg, ESTIMATORS.create("pattern").fit_transform(observed)[1])


def test_reproduce_recipe_seed_records_the_recipe(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["reproduce", "--recipe", "seed", "--epochs", "1", "--ratios", "0.5", "--folds", "2",
                 "--out", str(run_dir), "--no-progress"]) == 0
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["recipe"] == "seed" and config["train"]["head"] == "seed-mlp" and config["train"]["epochs"] == 1
    assert "Training recipe: seed" in (run_dir / "report.md").read_text()
    from mlml.experiments import ResultStore

    records = ResultStore(run_dir / "results.sqlite").records()
    assert len(records) == 6 and {r["recipe"] for r in records} == {"seed"}
    assert all(r["metrics_tuned"] is None for r in records)  # no validation rows, so no tuned thresholds
    assert all(r["method_definition"]["estimator"] == "product" for r in records)


def test_train_recipe_seed(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", "yeast", "--recipe", "seed", "--epochs", "1", "--method", "cb-wce", "--ratio", "0.5",
                 "--out", str(out)]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["config"]["head"] == "seed-mlp" and meta["config"]["optimizer"] == "adadelta"
    assert meta["config"]["val_fraction"] == 0.0 and meta["config"]["epochs"] == 1
    assert "seed recipe" in capsys.readouterr().out
