"""Shipped training recipes: grid-config values a run starts from (``mlml reproduce --recipe NAME``).

``default`` is mlml's own trainer with its defaults; ``seed`` is the seed code's recipe (see ``seed.yaml``), for a
faithful reproduction of the paper's numbers. A recipe is a YAML mapping of grid-config fields
(:class:`mlml.experiments.GridConfig`); the ``train`` mapping holds :class:`mlml.training.TrainConfig` fields.
"""

from __future__ import annotations

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
