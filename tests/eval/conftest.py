from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.tiny_catalog import build_tiny


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built tiny catalog (60 items, 3 relations), shared read-only by the evaluation tests."""
    root = tmp_path_factory.mktemp("eval-catalog")
    build_tiny(root / "data", root / "raw-images")
    return root / "data"
