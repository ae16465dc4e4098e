"""Fixtures of the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlml.data import Dataset


@pytest.fixture
def toy_dataset():
    """A factory of small in-memory data sets: ``toy_dataset(labels, features=None, *, images=False)``; rows
    ``s0, s1, ...``, classes ``c0, c1, ...``; features default to ``arange`` (two columns); with ``images`` the
    ``features`` are image paths."""

    def make(labels, features=None, *, images: bool = False) -> Dataset:
        n = len(labels)
        if features is None and not images:
            features = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
        return Dataset(
            name="toy",
            labels=np.asarray(labels, dtype=np.int8),
            label_names=[f"c{j}" for j in range(len(labels[0]))],
            ids=[f"s{i}" for i in range(n)],
            features=None if images else features,
            image_paths=[Path(p) for p in features] if images else None,
        )

    return make
