"""Recipes merged in one place (issue 23): the grid (``load_config``) and ``mlml train --recipe``
(``service.apply_recipe``) both call :func:`mlml.recipes.merge_recipe`, so the same recipe gives the same method
and the same training configuration."""

from __future__ import annotations

import pytest

from mlml.experiments import load_config
from mlml.methods import METHODS
from mlml.recipes import RECIPES, merge_recipe, recipe_values
from mlml.service import apply_recipe
from mlml.training import TrainConfig


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("method", ["bce", "cb-wce", "asl"])
@pytest.mark.parametrize("flags", [{}, {"epochs": 3, "batch_size": 8}], ids=["recipe", "flags"])
def test_the_grid_and_mlml_train_build_the_same_config_from_a_recipe(recipe, method, flags):
    grid = load_config(None, recipe=recipe, methods=[method], train_overrides=dict(flags) or None)
    grid_method = grid.resolved_methods()[method]
    train_method, settings = apply_recipe(recipe, METHODS.get(method), dict(flags))
    assert grid_method.definition() == train_method.definition()
    assert grid.train == settings
    assert TrainConfig.from_dict(grid.train).to_dict() == TrainConfig.from_dict(settings).to_dict()
    if recipe_values(recipe).get("positive_weights"):  # the seed's class-balance weights reach both
        assert train_method.estimator == "product"


def test_merge_order_recipe_then_file_then_flags():
    merged = merge_recipe("seed", {"thresholds": "tuned", "train": {"batch_size": 16, "epochs": 5}},
                          train={"epochs": 2})
    assert merged["recipe"] == "seed" and merged["thresholds"] == "tuned"
    assert merged["train"]["optimizer"] == "adadelta"  # the recipe's, kept
    assert merged["train"]["batch_size"] == 16 and merged["train"]["epochs"] == 2  # file over recipe, flag over file
    assert recipe_values("seed")["train"]["epochs"] == 20  # the shipped values are not modified
