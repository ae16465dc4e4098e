"""Shipped training recipes: grid-config values a run starts from (``mlml reproduce --recipe NAME``).

``default`` is mlml's own trainer with its defaults; ``seed`` is the seed code's recipe (see ``seed.yaml``), for a
faithful reproduction of the paper's numbers. A recipe is a YAML mapping of grid-config fields
(:class:`mlml.experiments.GridConfig`); the ``train`` mapping holds :class:`mlml.training.TrainConfig` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from mlml._validation import check_option

RECIPES: tuple[str, ...] = ("default", "seed")


def recipe_values(name: str) -> dict[str, Any]:
    """The grid-config values of the shipped recipe ``name``.

    >>> recipe_values("seed")["train"]["optimizer"]
    'adadelta'
    """
    check_option(name, "recipe", "mlml", RECIPES)
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def merge_recipe(name: str, values: Mapping[str, Any] | None = None, *,
                 train: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recipe ``name``'s grid-config values overridden by ``values`` (a config file's, then flags), with the
    ``train`` mapping merged key by key: the recipe's, then ``values["train"]``, then ``train``.

    The one place a recipe is merged: the grid's :func:`mlml.experiments.load_config` and ``mlml train``'s
    :func:`mlml.service.apply_recipe` both call it, so that the same recipe gives the same training settings.

    >>> merge_recipe("seed", train={"epochs": 2})["train"]["epochs"], merge_recipe("seed")["positive_weights"]
    (2, 'class-balance')
    """
    base = recipe_values(name)
    values = dict(values or {})
    merged = {**base, **values, "recipe": name}
    merged["train"] = {**(base.get("train") or {}), **(values.get("train") or {}), **(train or {})}
    return merged
