"""Fixtures of the syntax tests; makes ``synkit`` importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

REPO = HERE.parent.parent
GOLDEN = HERE / "golden"
SHARED_EXAMPLES = Path("/work/shared/examples")


@pytest.fixture
def repo() -> Path:
    return REPO
