"""The cluster tests share the sweep tests' local Ray instance (tests/sweeps/conftest.py)."""

from tests.sweeps.conftest import local_ray  # noqa: F401 - the module-scoped fixture
