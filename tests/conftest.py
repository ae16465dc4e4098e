"""Shared fixtures: the built-in yeast data set, and the real data sets in ../shared/data (see its README).

Fixtures used by one package's tests only live in that folder's ``conftest.py`` (``tests/cli/conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MLML_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; tests that need it skip with a reason where it is absent (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def coco_dir(shared_data: Path) -> Path:
    return shared_data / "coco2017-seed-folds"


@pytest.fixture(scope="session")
def mulan_dir(shared_data: Path) -> Path:
    return shared_data / "mulan"


@pytest.fixture(scope="session")
def coco_seed_split(coco_dir: Path):
    """COCO 2017's seed split 1 at r = 0.5 (the seed's own hidden positives), read once for the session."""
    from mlml.data.seedfolds import load_seed_split

    return load_seed_split(coco_dir, 1, 0.5)


@pytest.fixture(scope="session")
def yeast():
    """The built-in yeast data set (2,417 rows, 14 labels), loaded once for the session; tests must not modify it
    (take ``yeast.subset(rows)`` or copies)."""
    import mlml.data

    return mlml.data.load("yeast")
