"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest
from cli_helpers import small_labels_csv


@pytest.fixture
def labels_csv(tmp_path):
    """The 12-sample labels file of :func:`cli_helpers.small_labels_csv`, in this test's folder."""
    return small_labels_csv(tmp_path)
