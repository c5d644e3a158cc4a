"""Fixtures for the model tests: a tiny offline backbone built from the test corpus."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rcml_testkit import RELATIONS, TITLES

from rcml_core.model.backbone import Backbone, BackboneConfig, build_backbone


@pytest.fixture
def make_backbone() -> Callable[..., Backbone]:
    def make(**overrides) -> Backbone:
        return build_backbone(BackboneConfig(**overrides), TITLES + RELATIONS)

    return make


@pytest.fixture
def backbone(make_backbone) -> Backbone:
    return make_backbone()
